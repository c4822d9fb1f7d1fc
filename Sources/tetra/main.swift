import TetraCLI

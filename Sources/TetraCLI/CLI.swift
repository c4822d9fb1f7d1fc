import TetraCore

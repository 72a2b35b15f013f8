module pimatrix.local/complement/deployer

go 1.25.0

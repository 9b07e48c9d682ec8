library(testthat)
library(ijkonet)
test_check("ijkonet")

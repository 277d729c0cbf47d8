# Run from the repository root: Rscript tests/reference/make_glmer_binned.R
# performance::binned_residuals (performance 0.10.2) of an lme4 1.1.31 binomial glmer fit,
# for tests/test_glmer_diagnostics.py.
suppressMessages({library(lme4); library(performance); library(jsonlite)})
d <- read.csv("data/contraception.csv", stringsAsFactors = TRUE)
m <- suppressWarnings(glmer(use ~ age + I(age^2) + urban + livch + (1 | district), d, binomial,
                            control = glmerControl(optimizer = "bobyqa")))
b <- as.data.frame(binned_residuals(m))
writeLines(toJSON(list(contraception = b), digits = NA, dataframe = "columns"),
           "tests/reference/glmer_binned.json")

# Run from the repository root: Rscript tests/reference/make_glmer_drop1.R
# drop1(m, test = "Chisq") of lme4 1.1.31 (R 4.2.2) glmer fits, for tests/test_glmer_drop1.py.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(f) read.csv(file.path("data", f), stringsAsFactors = TRUE)
ctl <- glmerControl(optimizer = "bobyqa")
out <- list()
keep <- function(name, m) {
  d <- drop1(m, test = "Chisq")
  out[[name]] <<- list(terms = rownames(d), npar = d$npar, AIC = d$AIC, LRT = d$LRT,
                       p = d[["Pr(Chi)"]])
}
owls <- rd("owls.csv")
keep("owls", glmer(SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) +
                     (1 | Nest), owls, poisson, control = ctl))
contra <- rd("contraception.csv")
keep("contraception", glmer(use ~ age + I(age^2) + urban + livch + (1 | district), contra,
                            binomial, control = ctl))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/glmer_drop1.json")

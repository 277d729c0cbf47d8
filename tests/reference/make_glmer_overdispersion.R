# Run from the repository root: Rscript tests/reference/make_glmer_overdispersion.R
# performance::check_overdispersion (performance 0.10.2) of lme4 1.1.31 Poisson glmer fits,
# for tests/test_glmer_diagnostics.py.
suppressMessages({library(lme4); library(performance); library(jsonlite)})
rd <- function(f) read.csv(file.path("data", f), stringsAsFactors = TRUE)
ctl <- glmerControl(optimizer = "bobyqa")
out <- list()
keep <- function(name, m) {
  o <- check_overdispersion(m)
  out[[name]] <<- list(chisq = o$chisq_statistic, ratio = o$dispersion_ratio,
                       rdf = o$residual_df, p = o$p_value)
}
owls <- rd("owls.csv")
keep("owls", glmer(SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) +
                     (1 | Nest), owls, poisson, control = ctl))
sal <- rd("salamanders.csv")
keep("salamanders", glmer(count ~ spp + mined + (1 | site), sal, poisson, control = ctl))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/glmer_overdispersion.json")

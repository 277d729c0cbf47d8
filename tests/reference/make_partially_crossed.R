# Makes tests/reference/partially_crossed.json: lme4 values for a partially crossed design
# (60 subjects, 40 items, each subject sees 12 items; tests/reference/partially_crossed.csv,
# written by make_partially_crossed_data.py). Run from the repository root with
# `Rscript tests/reference/make_partially_crossed.R` (R 4.2.2, lme4 1.1.31 from Debian).
# The tests never run R; they read the JSON this writes. Every number's R expression is in
# the `r_exprs` record of the JSON and in the comments below.
suppressMessages({library(lme4); library(jsonlite)})
pc <- read.csv("tests/reference/partially_crossed.csv",
               colClasses = c(subj = "character", item = "character"))

summ <- function(m, call) {
  vc <- as.data.frame(VarCorr(m))
  vc[is.na(vc)] <- ""
  re <- as.data.frame(ranef(m, condVar = TRUE))
  # the first five levels of each grouping factor (sorted labels), every term
  head_of <- function(g) {
    r <- re[re$grpvar == g & re$grp %in% head(sort(unique(pc[[g]])), 5), ]
    list(level = as.character(r$grp), term = as.character(r$term),
         condval = r$condval, condsd = r$condsd)
  }
  list(r_call = call,
       loglik = as.numeric(logLik(m)),
       reml_criterion = if (isREML(m)) unname(REMLcrit(m)) else NULL,
       deviance_ml = if (isREML(m)) NULL else deviance(m),
       nobs = nobs(m), ngroups = as.list(ngrps(m)),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       sigma = sigma(m), varcorr = vc, singular = isSingular(m),
       ranef_head = list(subj = head_of("subj"), item = head_of("item")))
}
out <- list(r_exprs = list(
  loglik = "as.numeric(logLik(m))", reml_criterion = "REMLcrit(m)",
  deviance_ml = "deviance(m) (ML fits)", nobs = "nobs(m)", ngroups = "ngrps(m)",
  fixef = "fixef(m)", fixef_se = "sqrt(diag(as.matrix(vcov(m))))", sigma = "sigma(m)",
  varcorr = "as.data.frame(VarCorr(m))", singular = "isSingular(m)",
  ranef_head = "as.data.frame(ranef(m, condVar = TRUE)), first five levels of each factor"))

# Both fits converge in lme4 without warnings. (The ML fit of the second model stops at
# max|grad| 0.0021 in lme4, just above its tolerance: not a reference.)
m <- lmer(y ~ x + (1 + x | subj) + (1 | item), pc, REML = FALSE)
out$subj_slopes_ml <- summ(m, "lmer(y ~ x + (1 + x | subj) + (1 | item), partially_crossed, REML = FALSE)")
m <- lmer(y ~ x + (1 | subj) + (1 + x | item), pc)
out$item_slopes <- summ(m, "lmer(y ~ x + (1 | subj) + (1 + x | item), partially_crossed)")

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/partially_crossed.json")

# Makes tests/reference/fit_many.json: one lmer fit per response of
# tests/reference/many_responses.csv (written by make_many_data.py), for lmeformula's
# fit_many, which must give each response its single fit's numbers. Two models: REML
# `y ~ x + (x | g)` and ML `y ~ x + (1 | g)` with prior weights w. Run from the repository
# root with `Rscript tests/reference/make_fit_many.R` (R 4.2.2, lme4 1.1.31 from Debian). The
# tests never run R; they read the JSON this writes. The R expression of every field is in
# the `r_exprs` record of the JSON.
suppressMessages({library(lme4); library(jsonlite)})
d <- read.csv("tests/reference/many_responses.csv", colClasses = c(g = "character", label = "character"))
responses <- c(sprintf("y%02d", 1:39), "label")

one <- function(y, rhs, reml, weights) {
  f <- as.formula(paste(y, "~", rhs))
  m <- tryCatch(
    suppressWarnings(suppressMessages(
      if (weights) lmer(f, d, REML = reml, weights = w) else lmer(f, d, REML = reml))),
    error = function(e) conditionMessage(e))
  if (is.character(m)) return(list(response = y, error = m))
  vc <- as.data.frame(VarCorr(m))
  vc[is.na(vc)] <- ""
  list(response = y, error = NULL,
       loglik = as.numeric(logLik(m)), nobs = nobs(m),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       sigma = sigma(m), varcorr = vc, singular = isSingular(m),
       converged = !any(grepl("converge", m@optinfo$conv$lme4$messages)))
}
models <- list(
  slopes_reml = list(rhs = "x + (x | g)", reml = TRUE, weights = FALSE,
                     r_call = "lmer(<y> ~ x + (x | g), d)"),
  intercept_ml_weights = list(rhs = "x + (1 | g)", reml = FALSE, weights = TRUE,
                              r_call = "lmer(<y> ~ x + (1 | g), d, REML = FALSE, weights = w)"))
out <- list(r_exprs = list(
  loglik = "as.numeric(logLik(m))", nobs = "nobs(m)", fixef = "fixef(m)",
  fixef_se = "sqrt(diag(as.matrix(vcov(m))))", sigma = "sigma(m)",
  varcorr = "as.data.frame(VarCorr(m))", singular = "isSingular(m)",
  converged = "!any(grepl(\"converge\", m@optinfo$conv$lme4$messages))",
  error = "conditionMessage(e) of tryCatch(lmer(...), error = function(e) e)"))
for (id in names(models)) {
  s <- models[[id]]
  out[[id]] <- list(r_call = s$r_call, rhs = s$rhs, reml = s$reml, weights = s$weights,
                    fits = lapply(responses, one, rhs = s$rhs, reml = s$reml, weights = s$weights))
}
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE, null = "null"),
           "tests/reference/fit_many.json")

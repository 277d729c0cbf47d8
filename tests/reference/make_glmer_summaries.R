# Run from the repository root: Rscript tests/reference/make_glmer_summaries.R
# capture.output(print(summary(m))) of lme4 1.1.31 (R 4.2.2) for tests/test_glmer_summary.py,
# and the estimates of the same fits (glmer_summaries.json), at which the test prints ours.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(f) read.csv(file.path("data", f), stringsAsFactors = TRUE)
out <- list()
keep <- function(name, m) {
  s <- capture.output(print(summary(m)))
  # The call's control= is echoed as "Control:"; glmer here takes no control argument.
  writeLines(s[!grepl("^Control:", s)], file.path("tests/reference/summaries", paste0(name, ".txt")))
  out[[name]] <<- list(theta = unname(getME(m, "theta")), fixef = unname(fixef(m)))
}
verbagg <- rd("verbagg.csv"); verbagg$id <- factor(verbagg$id)
keep("verbagg_nagq0",
     glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), verbagg, binomial, nAGQ = 0))
grouseticks <- rd("grouseticks.csv")
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION")) grouseticks[[v]] <- factor(grouseticks[[v]])
keep("grouseticks_pois",
     glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), grouseticks,
           poisson, control = glmerControl(optimizer = "bobyqa")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/glmer_summaries.json")

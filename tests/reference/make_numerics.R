# Makes tests/reference/numerics.json: lme4's fits at numerical edge cases (response
# scales from 1e-6 to 1e9, a singular fit, collinear fixed effects, groups of one row,
# highly unbalanced groups, logical and factor columns with unused levels). Run from the
# repository root with `Rscript tests/reference/make_numerics.R` (R 4.2.2, lme4 1.1.31).
# The tests never run R; they read the JSON this writes.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
exam <- rd("exam", c(school = "character", student = "character"))
orth <- rd("orthodont", c(Subject = "character"))

summ <- function(m, call) {
  list(r_call = call, loglik = as.numeric(logLik(m)), nobs = nobs(m),
       fixef = as.list(fixef(m)), theta = unname(getME(m, "theta")), sigma = sigma(m),
       singular = isSingular(m), reml = isREML(m))
}
out <- list()

# Response scales: lme4 is scale-equivariant; the likelihood moves by n log(s) (ML) or
# (n - p) log(s) (REML).
for (s in c(1e-6, 1, 1e9)) {
  e <- exam; e$y <- e$normexam * s
  for (reml in c(TRUE, FALSE)) {
    m <- lmer(y ~ standLRT + (1 + standLRT | school), e, REML = reml)
    key <- sprintf("scale_%g_%s", s, if (reml) "reml" else "ml")
    out[[key]] <- summ(m, sprintf("exam$y <- exam$normexam * %g; lmer(y ~ standLRT + (1 + standLRT | school), exam, REML = %s)", s, reml))
    out[[key]]$scale <- s
  }
}

# A covariate in units of 1e9 (R's QR tolerance is per column: nothing is dropped).
e <- exam; e$x <- e$standLRT * 1e9
m <- lmer(normexam ~ x + (1 | school), e, REML = FALSE)
out$covariate_1e9 <- summ(m, "exam$x <- exam$standLRT * 1e9; lmer(normexam ~ x + (1 | school), exam, REML = FALSE)")

# A singular fit: lme4's Dyestuff2, the batch variance at 0.
m <- lmer(Yield ~ 1 + (1 | Batch), Dyestuff2)
out$singular_dyestuff2 <- summ(m, "lmer(Yield ~ 1 + (1 | Batch), Dyestuff2)")
out$singular_dyestuff2$data <- list(Yield = Dyestuff2$Yield, Batch = as.character(Dyestuff2$Batch))

# Collinear fixed effects: a linear function of another column, and a factor that is a
# function of another factor (type is Mxd exactly where schgend is mixed).
e <- exam; e$x2 <- 2 * e$standLRT + 1
m <- lmer(normexam ~ standLRT + x2 + (1 | school), e)
out$collinear_covariate <- summ(m, "exam$x2 <- 2 * exam$standLRT + 1; lmer(normexam ~ standLRT + x2 + (1 | school), exam)")
m <- lmer(normexam ~ standLRT + schgend + type + (1 | school), exam)
out$collinear_factor <- summ(m, "lmer(normexam ~ standLRT + schgend + type + (1 | school), exam)")

# Groups of one row: the schools whose number is a multiple of 3 keep their first pupil.
e <- exam[!duplicated(exam$school) | as.integer(exam$school) %% 3 != 0, ]
m <- lmer(normexam ~ standLRT + (1 | school), e)
out$groups_of_one <- summ(m, "e <- exam[!duplicated(exam$school) | as.integer(exam$school) %% 3 != 0, ]; lmer(normexam ~ standLRT + (1 | school), e)")
out$groups_of_one$n_single <- sum(table(e$school) == 1)

# Highly unbalanced: schools 1 to 5 whole, every other school its first two pupils.
first <- ave(seq_len(nrow(exam)), exam$school, FUN = seq_along)
e <- exam[as.integer(exam$school) <= 5 | first <= 2, ]
m <- lmer(normexam ~ standLRT + (1 + standLRT | school), e)
out$unbalanced <- summ(m, "first <- ave(seq_len(nrow(exam)), exam$school, FUN = seq_along); e <- exam[as.integer(exam$school) <= 5 | first <= 2, ]; lmer(normexam ~ standLRT + (1 + standLRT | school), e)")
out$unbalanced$group_sizes <- range(table(e$school))

# A logical covariate is a factor with levels FALSE and TRUE (coefficient bTRUE).
e <- exam; e$b <- e$standLRT > 0
m <- lmer(normexam ~ b + (1 | school), e)
out$logical_covariate <- summ(m, "exam$b <- exam$standLRT > 0; lmer(normexam ~ b + (1 | school), exam)")

# Unused factor levels are dropped by the model frame (no column, no warning).
e <- exam; e$s <- factor(e$sex, levels = c("F", "M", "X"))
m <- lmer(normexam ~ s + (1 | school), e)
out$unused_level <- summ(m, "exam$s <- factor(exam$sex, levels = c('F', 'M', 'X')); lmer(normexam ~ s + (1 | school), exam)")

# Ties in times: subject M01 measured twice at age 8 (a random slope over tied times).
o <- orth; o$age[2] <- 8
m <- lmer(distance ~ age + (age | Subject), o)
out$tied_times <- summ(m, "orth$age[2] <- 8; lmer(distance ~ age + (age | Subject), Orthodont)")

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/numerics.json")

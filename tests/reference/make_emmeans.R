# Makes tests/reference/emmeans.json: estimated marginal means and pairwise contrasts as
# emmeans gives them, `as.data.frame(emmeans(...))` and `as.data.frame(pairs(emmeans(...)))`,
# on lmer fits (lmerTest's Satterthwaite df and pbkrtest's Kenward-Roger through emmeans'
# `lmer.df`), and on nlme's gls and lme with residual structures (mode = "asymptotic" and
# "satterthwaite"). Run from the repository root with `Rscript tests/reference/make_emmeans.R`
# (R 4.2.2, emmeans 1.8.4.1, lmerTest 3.1.3, pbkrtest 0.5.2, nlme 3.1.162). The tests
# never run R; they read the JSON this writes.
#
# Each table carries `args`: the arguments of lmeformula's fit.emmeans() /
# fit.emmeans_contrasts() that ask for the same thing, and `r_call`, the R expression.
suppressMessages({library(lmerTest); library(nlme); library(emmeans); library(jsonlite)})
# emmeans switches lmer fits with more than 3,000 rows to asymptotic df; Exam has 4,059.
emm_options(lmerTest.limit = Inf, pbkrtest.limit = Inf)
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
orth <- rd("orthodont", c(Subject = "character"))
# A 0/1 numeric covariate: emmeans keeps both values (cov.keep = "2"), not the mean.
orth$male <- as.numeric(orth$Sex == "Male")
mach <- rd("machines", c(Worker = "character"))
exam <- rd("exam", c(school = "character", student = "character"))
bw <- rd("bodyweight", c(Rat = "character", Diet = "character"))
sleep <- rd("sleepstudy", c(Subject = "character"))

ddf_r <- c(satterthwaite = "lmer.df = \"satterthwaite\"", `kenward-roger` = "lmer.df = \"kenward-roger\"",
           wald = "lmer.df = \"asymptotic\"")
mode_r <- c(satterthwaite = "mode = \"satterthwaite\"", wald = "mode = \"asymptotic\"")

columns <- function(d) {
  d <- as.data.frame(d)
  names(d)[names(d) %in% c("lower.CL", "asymp.LCL")] <- "lower_cl"
  names(d)[names(d) %in% c("upper.CL", "asymp.UCL")] <- "upper_cl"
  names(d)[names(d) %in% c("t.ratio", "z.ratio")] <- "t_ratio"
  names(d)[names(d) == "SE"] <- "std_error"
  names(d)[names(d) == "p.value"] <- "p_value"
  lapply(d, function(x) if (is.factor(x)) as.character(x) else x)
}

# One table: emmeans (kind "emmeans") or pairs of it (kind "pairs").
table <- function(m, call, kind, specs_r, args, ddf, gls = FALSE, at = NULL, level = 0.95,
                  reverse = FALSE, adjust = NULL) {
  df_arg <- if (gls) list(mode = sub("wald", "asymptotic", ddf)) else
    list(lmer.df = sub("wald", "asymptotic", ddf))
  em_args <- c(list(m, specs_r), df_arg)
  if (!is.null(at)) em_args$at <- at
  if (level != 0.95) em_args$level <- level
  e <- do.call(emmeans, em_args)
  df_text <- if (gls) mode_r[[ddf]] else ddf_r[[ddf]]
  at_text <- if (is.null(at)) "" else paste0(", at = ", paste(deparse(at), collapse = ""))
  lvl_text <- if (level != 0.95) paste0(", level = ", level) else ""
  em_call <- paste0("emmeans(", call, ", ", paste(deparse(specs_r), collapse = ""), at_text,
                    ", ", df_text, lvl_text, ")")
  args$ddf <- ddf
  if (!is.null(at)) args$at <- at
  if (level != 0.95) args$level <- level
  if (kind == "pairs") {
    p_args <- list(e, reverse = reverse)
    if (!is.null(adjust)) p_args$adjust <- adjust
    e <- do.call(pairs, p_args)
    extra <- paste0(if (reverse) ", reverse = TRUE" else "",
                    if (!is.null(adjust)) paste0(", adjust = \"", adjust, "\"") else "")
    em_call <- paste0("pairs(", em_call, extra, ")")
    if (reverse) args$method <- "revpairwise"
    if (!is.null(adjust)) args$adjust <- adjust
  }
  list(kind = kind, r_call = paste0("as.data.frame(", em_call, ")"), args = args,
       table = columns(e))
}

cases <- list()
add <- function(id, fun, dataset, formula, tables, reml = TRUE, residual = NULL, derive = NULL) {
  cases[[length(cases) + 1]] <<- list(id = id, fun = fun, dataset = dataset, formula = formula,
                                      reml = reml, residual = residual, derive = derive,
                                      tables = tables)
}

# Orthodont, random slopes: means of Sex (age at its mean), within ages, pairs, adjustments.
m <- lmer(distance ~ age * Sex + (age | Subject), orth)
call <- "lmer(distance ~ age * Sex + (age | Subject), Orthodont)"
a8 <- list(age = c(8, 14))
tabs <- list()
for (ddf in c("satterthwaite", "kenward-roger")) {
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), ddf)
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Sex | age, list(specs = "~ Sex | age"),
                                    ddf, at = a8)
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Sex * age, list(specs = "~ Sex * age"),
                                    ddf, at = a8)
}
tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Sex | age, list(specs = "Sex", by = "age"),
                                  "satterthwaite", at = a8)
for (adj in c("none", "bonferroni", "holm", "sidak"))
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Sex * age, list(specs = c("Sex", "age")),
                                    "satterthwaite", at = a8, adjust = adj)
tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ age, list(specs = "age"), "satterthwaite",
                                  at = list(age = c(8, 14, -3)), reverse = TRUE)
tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ 1, list(specs = "1"), "satterthwaite")
# Several values of a covariate outside specs: averaged over, with equal weights.
tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "satterthwaite",
                                  at = list(age = c(8, 10, 14)))
tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ age * Sex, list(specs = "~ age * Sex"),
                                  "wald", at = a8, level = 0.9)
add("orthodont_rs", "lmer", "orthodont", "distance ~ age * Sex + (age | Subject)", tabs)

# Machines, nested random effects: the three machines and Tukey's pairs.
m <- lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), mach)
call <- "lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), Machines)"
tabs <- list()
for (ddf in c("satterthwaite", "kenward-roger")) {
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Machine, list(specs = "Machine"), ddf)
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Machine, list(specs = "Machine"), ddf)
}
tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Machine, list(specs = "Machine"),
                                  "satterthwaite", level = 0.9)
add("machines_nested", "lmer", "machines",
    "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", tabs)

# Exam (4,059 rows): schgend averaged over sex, standLRT at its mean.
m <- lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam)
call <- "lmer(normexam ~ standLRT + sex + schgend + (1 | school), Exam)"
tabs <- list()
for (ddf in c("satterthwaite", "kenward-roger")) {
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ schgend, list(specs = "schgend"), ddf)
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ schgend, list(specs = "schgend"), ddf)
}
tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ sex | schgend,
                                  list(specs = "sex", by = "schgend"), "satterthwaite")
add("exam_schgend", "lmer", "exam", "normexam ~ standLRT + sex + schgend + (1 | school)", tabs)

# Exam with sex * schgend: rank deficient (no girls in boys' schools): nonEst rows.
m <- lmer(normexam ~ standLRT + sex * schgend + (1 | school), exam)
call <- "lmer(normexam ~ standLRT + sex * schgend + (1 | school), Exam)"
tabs <- list(
  table(m, call, "emmeans", ~ sex | schgend, list(specs = "~ sex | schgend"), "satterthwaite"),
  table(m, call, "emmeans", ~ schgend, list(specs = "schgend"), "wald"),
  table(m, call, "pairs", ~ sex * schgend, list(specs = "~ sex * schgend"), "satterthwaite"))
add("exam_rank_deficient", "lmer", "exam",
    "normexam ~ standLRT + sex * schgend + (1 | school)", tabs)

# Functions of a covariate: evaluated at the covariate's mean (or at `at`), not averaged.
m <- lmer(distance ~ Sex * log(age) + (1 | Subject), orth)
call <- "lmer(distance ~ Sex * log(age) + (1 | Subject), Orthodont)"
tabs <- list(
  table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "satterthwaite"),
  table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "kenward-roger"),
  table(m, call, "pairs", ~ Sex | age, list(specs = "~ Sex | age"), "satterthwaite",
        at = list(age = c(9, 13))))
add("orthodont_log_age", "lmer", "orthodont", "distance ~ Sex * log(age) + (1 | Subject)", tabs)

m <- lmer(distance ~ Sex * I((age - 8)^2) + (1 | Subject), orth)
call <- "lmer(distance ~ Sex * I((age - 8)^2) + (1 | Subject), Orthodont)"
tabs <- list(
  table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "satterthwaite"),
  table(m, call, "pairs", ~ Sex, list(specs = "Sex"), "kenward-roger"))
add("orthodont_i_age", "lmer", "orthodont", "distance ~ Sex * I((age - 8)^2) + (1 | Subject)",
    tabs)

m <- lmer(distance ~ poly(age, 2) * Sex + (1 | Subject), orth)
call <- "lmer(distance ~ poly(age, 2) * Sex + (1 | Subject), Orthodont)"
tabs <- list(
  table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "satterthwaite"),
  table(m, call, "emmeans", ~ Sex | age, list(specs = "~ Sex | age"), "kenward-roger",
        at = list(age = c(9, 13))))
add("orthodont_poly", "lmer", "orthodont", "distance ~ poly(age, 2) * Sex + (1 | Subject)", tabs)

# factor(age): a numeric variable made a factor, so its distinct values are levels.
m <- lmer(distance ~ Sex + factor(age) + (1 | Subject), orth)
call <- "lmer(distance ~ Sex + factor(age) + (1 | Subject), Orthodont)"
tabs <- list(
  table(m, call, "emmeans", ~ age, list(specs = "age"), "satterthwaite"),
  table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), "kenward-roger"),
  table(m, call, "pairs", ~ age, list(specs = "age"), "satterthwaite"))
add("orthodont_factor_age", "lmer", "orthodont", "distance ~ Sex + factor(age) + (1 | Subject)",
    tabs)

# A 0/1 numeric covariate (cov.keep = "2"): both values are in the grid, averaged equally.
m <- lmer(distance ~ age + male + (1 | Subject), orth)
call <- "lmer(distance ~ age + male + (1 | Subject), transform(Orthodont, male = as.numeric(Sex == \"Male\")))"
tabs <- list(
  table(m, call, "emmeans", ~ male, list(specs = "male"), "satterthwaite"),
  table(m, call, "emmeans", ~ 1, list(specs = "1"), "satterthwaite"),
  table(m, call, "pairs", ~ male, list(specs = "male"), "satterthwaite"))
add("orthodont_male01", "lmer", "orthodont", "distance ~ age + male + (1 | Subject)", tabs,
    derive = "male")

# Numeric-looking factor levels: pairs label them "Diet1 - Diet2".
m <- lmer(weight ~ Time * Diet + (1 | Rat), bw)
call <- "lmer(weight ~ Time * Diet + (1 | Rat), BodyWeight)"
tabs <- list(
  table(m, call, "emmeans", ~ Diet, list(specs = "Diet"), "satterthwaite"),
  table(m, call, "pairs", ~ Diet, list(specs = "Diet"), "satterthwaite"))
add("bodyweight", "lmer", "bodyweight", "weight ~ Time * Diet + (1 | Rat)", tabs)

# An ML fit.
m <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
call <- "lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)"
tabs <- list(table(m, call, "pairs", ~ Days, list(specs = "Days"), "satterthwaite",
                   at = list(Days = c(0, 4.5, 9))))
add("sleepstudy_ml", "lmer", "sleepstudy", "Reaction ~ Days + (Days | Subject)", tabs,
    reml = FALSE)

# nlme's gls and lme with AR(1) residuals: the same means and SEs; emmeans' own df.
m <- gls(distance ~ Sex * I(age - 11), orth, correlation = corAR1(form = ~ 1 | Subject))
call <- "gls(distance ~ Sex * I(age - 11), Orthodont, correlation = corAR1(form = ~1 | Subject))"
tabs <- list()
for (ddf in c("wald", "satterthwaite")) {
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Sex | age, list(specs = "~ Sex | age"),
                                    ddf, gls = TRUE, at = a8)
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Sex, list(specs = "Sex"), ddf, gls = TRUE)
}
add("orthodont_gls_ar1", "gls", "orthodont", "distance ~ Sex * I(age - 11)", tabs,
    residual = list(type = "AR1", form = "1 | Subject"))

# emmeans' Satterthwaite for lme ("appx-satterthwaite") estimates the gradient of Var(beta)
# by refitting to randomly perturbed responses (gradV.kludge): its df move by about 0.5%
# from run to run, so the seed is fixed.
set.seed(20231129)
m <- lme(distance ~ age * Sex, random = ~ 1 | Subject, data = orth,
         correlation = corAR1(form = ~ 1 | Subject))
call <- "lme(distance ~ age * Sex, random = ~1 | Subject, Orthodont, correlation = corAR1(form = ~1 | Subject))"
tabs <- list()
for (ddf in c("wald", "satterthwaite")) {
  tabs[[length(tabs) + 1]] <- table(m, call, "emmeans", ~ Sex, list(specs = "Sex"), ddf,
                                    gls = TRUE)
  tabs[[length(tabs) + 1]] <- table(m, call, "pairs", ~ Sex | age, list(specs = "~ Sex | age"),
                                    ddf, gls = TRUE, at = a8)
}
add("orthodont_lme_ar1", "lmer", "orthodont", "distance ~ age * Sex + (1 | Subject)", tabs,
    residual = list(type = "AR1", form = "1 | Subject"))

writeLines(toJSON(list(cases = cases), digits = NA, pretty = TRUE, auto_unbox = TRUE,
                  na = "string", null = "null"),
           "tests/reference/emmeans.json")

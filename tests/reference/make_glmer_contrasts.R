# Makes tests/reference/glmer_contrasts.json: contrasts of estimated marginal means of glmer
# fits as emmeans gives them, on the link scale and back-transformed (odds ratios, ratios,
# and regridded differences of probabilities for a probit link). Run from the repository
# root with `Rscript tests/reference/make_glmer_contrasts.R` (R 4.2.2, lme4 1.1.31,
# emmeans 1.8.4.1). The tests never run R; they read the JSON this writes.
#
# Each case carries the model (`formula`, `family`, `link`, R's `fixef` and `vcov`); each
# table carries `r`, the R expression that made it (evaluated as written, with `m` the
# case's fit), `args`, the arguments of lmeformula's fit.emmeans_contrasts() that ask for
# the same thing, and `table`, its columns renamed as lmeformula names them.
suppressMessages({library(lme4); library(emmeans); library(jsonlite)})
rd <- function(name, chr) read.csv(file.path("data", paste0(name, ".csv")), colClasses = chr)
# Factor levels as lmeformula.datasets.load() has them: quoted columns are labels, their
# levels sorted (R's default for character vectors in the C locale used here).
cbpp <- rd("cbpp", c(herd = "character", period = "character"))
grouse <- rd("grouseticks", c(INDEX = "character", BROOD = "character", YEAR = "character",
                              LOCATION = "character"))
contra <- rd("contraception", c(woman = "character", district = "character",
                                use = "character", livch = "character", urban = "character"))
# As the shipped GLMM reference (glmm_reference.json): bobyqa for both stages.
ctrl <- glmerControl(optimizer = "bobyqa")
contra$use <- factor(contra$use, levels = c("N", "Y"))  # glmer: the second level is success

columns <- function(d) {
  d <- as.data.frame(d)
  d$null <- NULL  # R's null = 1 (ratios) or 0: the value tested, not a column here
  renames <- c(odds.ratio = "odds_ratio", SE = "std_error", asymp.LCL = "lower_cl",
               asymp.UCL = "upper_cl", z.ratio = "t_ratio", p.value = "p_value")
  hit <- names(d) %in% names(renames)
  names(d)[hit] <- renames[names(d)[hit]]
  lapply(d, function(x) if (is.factor(x)) as.character(x) else x)
}

table <- function(m, r, args) {
  env <- new.env()
  env$m <- m
  list(r = r, args = args, table = columns(eval(parse(text = r), env)))
}

cases <- list()
add <- function(id, dataset, formula, family, link, m, tables) {
  v <- as.matrix(vcov(m))
  cases[[length(cases) + 1]] <<- list(
    id = id, dataset = dataset, formula = formula, family = family, link = link,
    r_fit = paste0("glmer(", formula, ", ", dataset, ", family = ", family, "(link = \"", link,
                   "\"), control = glmerControl(optimizer = \"bobyqa\"))"),
    fixef = as.list(fixef(m)), vcov = unname(v), tables = tables)
}
inf <- function(call, type = "link") {
  paste0("as.data.frame(summary(", call, ", infer = TRUE",
         if (type == "response") ", type = \"response\"" else "", "))")
}

# cbpp, binomial logit: pairwise (log) odds ratios of period, Tukey and unadjusted, Holm;
# treatment against control (emmeans' default dunnettx, and tukey, which it makes sidak).
f <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
m <- glmer(as.formula(f), cbpp, family = binomial, control = ctrl)
tabs <- list(
  table(m, inf("pairs(emmeans(m, ~ period))"), list(specs = "period")),
  table(m, inf("pairs(emmeans(m, ~ period))", "response"),
        list(specs = "period", type = "response")),
  table(m, inf("pairs(emmeans(m, ~ period), adjust = \"none\")", "response"),
        list(specs = "period", adjust = "none", type = "response")),
  table(m, inf("pairs(emmeans(m, ~ period), adjust = \"holm\")"),
        list(specs = "period", adjust = "holm")),
  table(m, inf("pairs(emmeans(m, ~ period), reverse = TRUE, level = 0.9)", "response"),
        list(specs = "period", method = "revpairwise", level = 0.9, type = "response")),
  table(m, inf("contrast(emmeans(m, ~ period), \"trt.vs.ctrl\")", "response"),
        list(specs = "period", method = "trt.vs.ctrl", type = "response")),
  table(m, inf("contrast(emmeans(m, ~ period), \"trt.vs.ctrl\", adjust = \"tukey\")"),
        list(specs = "period", method = "trt.vs.ctrl", adjust = "tukey")))
add("cbpp_logit", "cbpp", f, "binomial", "logit", m, tabs)

# cbpp, binomial probit: emmeans keeps contrasts of probit means on the probit scale (its
# type = "response" does not change them); differences of probabilities are regrid()'s.
m <- glmer(as.formula(f), cbpp, family = binomial(link = "probit"), control = ctrl)
tabs <- list(
  table(m, inf("pairs(emmeans(m, ~ period))"), list(specs = "period")),
  table(m, inf("pairs(regrid(emmeans(m, ~ period)))"),
        list(specs = "period", type = "response")))
add("cbpp_probit", "cbpp", f, "binomial", "probit", m, tabs)

# grouseticks, Poisson with three random intercepts, YEAR a factor (as the shipped
# grouseticks_pois case: HEIGHT centred as cHEIGHT, which leaves the YEAR contrasts as
# they are): pairwise rate ratios of YEAR.
f <- "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
m <- glmer(as.formula(f), grouse, family = poisson, control = ctrl)
tabs <- list(
  table(m, inf("pairs(emmeans(m, ~ YEAR))"), list(specs = "YEAR")),
  table(m, inf("pairs(emmeans(m, ~ YEAR))", "response"), list(specs = "YEAR", type = "response")),
  table(m, inf("contrast(emmeans(m, ~ YEAR), \"trt.vs.ctrl\", adjust = \"bonferroni\")",
               "response"),
        list(specs = "YEAR", method = "trt.vs.ctrl", adjust = "bonferroni", type = "response")))
add("grouseticks_pois", "grouseticks", f, "poisson", "log", m, tabs)

# Contraception, binomial logit with an interaction: odds ratios of livch within urban
# (by =), livch against no children within urban, and urban within livch.
f <- "use ~ urban * livch + age + (1 | district)"
m <- glmer(as.formula(f), contra, family = binomial, control = ctrl)
tabs <- list(
  table(m, inf("pairs(emmeans(m, ~ livch | urban))", "response"),
        list(specs = "livch", by = "urban", type = "response")),
  table(m, inf("pairs(emmeans(m, ~ livch | urban), adjust = \"sidak\")"),
        list(specs = "livch", by = "urban", adjust = "sidak")),
  table(m, inf("contrast(emmeans(m, ~ livch | urban), \"trt.vs.ctrl\")", "response"),
        list(specs = "livch", by = "urban", method = "trt.vs.ctrl", type = "response")),
  table(m, inf("pairs(emmeans(m, ~ urban | livch), at = list(age = 5))", "response"),
        list(specs = "~ urban | livch", at = list(age = 5), type = "response")))
add("contraception_int", "contraception", f, "binomial", "logit", m, tabs)

out <- list(
  made_by = "tests/reference/make_glmer_contrasts.R",
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  lme4 = as.character(packageVersion("lme4")),
                  emmeans = as.character(packageVersion("emmeans"))),
  cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/glmer_contrasts.json")

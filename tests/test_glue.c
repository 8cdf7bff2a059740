/* test_glue.c: GLUE and custom data loading. Formats and splits are checked
 * on the vendored RTE and SST-2 files (data/glue) and against the
 * reference's own formatted texts (tests/data/tokenizer/t5_glue_samples.jsonl);
 * the other tasks on small files written in the GLUE layout from their real
 * first rows; then every malformed input must fail with a message naming
 * the file (and line). */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/io/glue.h"

#define GLUE_DIR "data/glue"

/* ---- helpers ---- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        lst_test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* Makes <tmp>/<name> (and <tmp>/<name>/<sub> if sub) and returns its path. */
static const char *tmp_dir(const char *name, const char *sub) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", lst_test_tmpdir(), name);
    mkdir(path, 0755);
    if (sub) {
        char p2[1024];
        snprintf(p2, sizeof p2, "%s/%s", path, sub);
        mkdir(p2, 0755);
    }
    return path;
}

/* Writes <dir>/<rel>. */
static void put(const char *dir, const char *rel, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    write_file(p, text);
}

static int has(const char *msg, const char *w) { return w == NULL || strstr(msg, w) != NULL; }

#define EXPECT_FAIL(call, w1, w2)                                                         \
    do {                                                                                  \
        lst_err_t e_ = {{0}};                                                             \
        lst_err_t *err_ = &e_;                                                            \
        (void)err_;                                                                       \
        if ((call) == 0) lst_test_fail(__FILE__, __LINE__, "accepted: %s", #call);        \
        else if (!has(e_.msg, w1) || !has(e_.msg, w2))                                    \
            lst_test_fail(__FILE__, __LINE__, "message lacks '%s'/'%s': %s", w1, w2 ? w2 : "", \
                          e_.msg);                                                        \
    } while (0)

static int ex_eq(const lst_example_t *a, const lst_example_t *b) {
    return strcmp(a->source, b->source) == 0 && strcmp(a->target, b->target) == 0;
}

/* Reads an int array field of paper_splits.json[task] (malloc'ed). */
static int *split_rows(const char *task, const char *key, int *n) {
    *n = 0;
    FILE *f = fopen(GLUE_DIR "/paper_splits.json", "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf);
    cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(root, task), key);
    int m = cJSON_GetArraySize(arr), *v = malloc(sizeof(int) * (m ? m : 1)), i = 0;
    cJSON *x;
    cJSON_ArrayForEach(x, arr) v[i++] = x->valueint;
    cJSON_Delete(root);
    *n = m;
    return v;
}

/* 1 if v holds distinct values in [0, n). */
static int distinct(const int *v, int m, int n) {
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int i = 0; i < m && ok; i++) {
        if (v[i] < 0 || v[i] >= n || seen[v[i]]) ok = 0;
        else seen[v[i]] = 1;
    }
    free(seen);
    return ok;
}

/* ---- the task table and STS-B targets ---- */

TEST(glue_task_table) {
    const char *names[] = {"cola", "sst2", "mrpc", "qqp", "mnli", "qnli", "rte", "stsb"};
    const char *dirs[] = {"CoLA", "SST-2", "MRPC", "QQP", "MNLI", "QNLI", "RTE", "STS-B"};
    for (int i = 0; i < 8; i++) {
        const lst_task_t *t = lst_task_find(names[i]);
        CHECK(t && strcmp(t->dir, dirs[i]) == 0, "task %s", names[i]);
    }
    CHECK(lst_task_count() == 8 && lst_task_at(8) == NULL && lst_task_at(-1) == NULL, "count");
    CHECK(lst_task_find("wnli") == NULL && lst_task_find("RTE") == NULL &&
              lst_task_find(NULL) == NULL,
          "unknown names");
    const lst_task_t *t = lst_task_find("mnli");
    CHECK(t->n_labels == 3 && strcmp(t->labels[2], "2") == 0, "mnli labels");
    CHECK(t->n_metrics == 1 && t->metrics[0] == LST_METRIC_ACC, "mnli metric");
    t = lst_task_find("mrpc");
    CHECK(t->n_metrics == 2 && t->metrics[0] == LST_METRIC_F1 && t->metrics[1] == LST_METRIC_ACC,
          "mrpc metrics");
    t = lst_task_find("qqp");
    CHECK(t->n_metrics == 2 && t->metrics[0] == LST_METRIC_F1, "qqp metrics");
    t = lst_task_find("cola");
    CHECK(t->n_metrics == 1 && t->metrics[0] == LST_METRIC_MCC, "cola metric");
    t = lst_task_find("stsb");
    CHECK(t->n_labels == 0 && t->n_metrics == 2 && t->metrics[0] == LST_METRIC_PEARSON &&
              t->metrics[1] == LST_METRIC_SPEARMAN,
          "stsb");
    CHECK(lst_task_label_index(lst_task_find("rte"), "1") == 1 &&
              lst_task_label_index(lst_task_find("rte"), "entailment") == -1,
          "label index");
}

TEST(glue_stsb_targets) {
    /* LST-SPEC s5 examples: float32, widened, x10, rint half-even */
    const char *in[] = {"0.85", "2.65", "0.25", "3.75", "4.45", "5.0", "5.000", "0", "3.800"};
    const char *want[] = {"0.9", "2.7", "0.2", "3.8", "4.4", "5.0", "5.0", "0.0", "3.8"};
    for (int i = 0; i < 9; i++) {
        char out[8];
        lst_err_t err;
        CHECK(lst_stsb_target(in[i], out, &err) == 0, "%s: %s", in[i], err.msg);
        CHECK(strcmp(out, want[i]) == 0, "%s -> %s, want %s", in[i], out, want[i]);
    }
    const char *bad[] = {"", "abc", " 1.0", "1.0 ", "0x1p1", "5.01", "-0.5", "-0", "nan", "inf",
                         "1e400"};
    for (int i = 0; i < 11; i++) {
        char out[8];
        lst_err_t err;
        CHECK(lst_stsb_target(bad[i], out, &err) != 0, "accepted '%s'", bad[i]);
    }
}

/* ---- vendored RTE and SST-2 ---- */

TEST(glue_rte_format_and_splits) {
    lst_splits_t s;
    lst_err_t err;
    int rc = lst_glue_load("rte", GLUE_DIR, NULL, 1, &s, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(s.task == lst_task_find("rte"), "task");
    CHECK(s.train.n == 2490 && s.validation.n == 138 && s.test.n == 139, "sizes %d %d %d",
          s.train.n, s.validation.n, s.test.n);
    CHECK(strcmp(s.train.ex[0].source, "rte sentence1: No Weapons of Mass Destruction Found in "
                                       "Iraq Yet. sentence2: Weapons of Mass Destruction Found "
                                       "in Iraq.") == 0,
          "train[0] '%s'", s.train.ex[0].source);
    CHECK(strcmp(s.train.ex[0].target, "1") == 0, "not_entailment -> 1: %s", s.train.ex[0].target);
    CHECK(strcmp(s.train.ex[1].target, "0") == 0, "entailment -> 0: %s", s.train.ex[1].target);
    /* validation[0] = dev row 207 (dev_permutation[0]); it starts with a raw '"' */
    CHECK(strncmp(s.validation.ex[0].source, "rte sentence1: \"Bea Arthur and I first met", 42) ==
              0,
          "validation[0] '%s'", s.validation.ex[0].source);
    CHECK(strstr(s.validation.ex[0].source,
                 "(225 West 44th Street). sentence2: The actress Angela Lansbury is 86 years "
                 "old.") != NULL,
          "validation[0] end");
    CHECK(strcmp(s.validation.ex[0].target, "1") == 0, "validation[0] target");
    /* test[0] = dev row 152 (dev_permutation[138]) */
    CHECK(strcmp(s.test.ex[0].source,
                 "rte sentence1: Thus began the journey that led Hannam, a 29-year-old "
                 "free-lance journalist, on an international quest to solve one of the greatest "
                 "mysteries of Asia: What happened to Lin Piao, the Chinese Communist Party "
                 "leader accused of a 1971 plot to overthrow Chairman Mao. sentence2: Lin Piao "
                 "was the Chinese Communist Party leader.") == 0,
          "test[0] '%s'", s.test.ex[0].source);
    CHECK(strcmp(s.test.ex[0].target, "0") == 0, "test[0] target");

    /* Validation + test are exactly dev, cut by the permutation: load dev in
     * file order through an identity split and compare row by row. */
    char ident[8192] = "{\"rte\": {\"dev_rows\": 277, \"dev_permutation\": [";
    for (int i = 0; i < 277; i++) {
        size_t l = strlen(ident);
        snprintf(ident + l, sizeof ident - l, "%s%d", i ? "," : "", i);
    }
    strcat(ident, "]}}");
    const char *dir = tmp_dir("glue_rte_ident", NULL);
    put(dir, "splits.json", ident);
    char sj[1100];
    snprintf(sj, sizeof sj, "%s/splits.json", dir);
    lst_splits_t d;
    rc = lst_glue_load("rte", GLUE_DIR, sj, 1, &d, &err);
    CHECK(rc == 0, "%s", err.msg);
    int n = 0, *perm = split_rows("rte", "dev_permutation", &n);
    CHECK(n == 277 && distinct(perm, n, 277), "dev_permutation is a permutation");
    if (rc == 0 && n == 277) {
        CHECK(d.validation.n == 138 && d.test.n == 139, "identity sizes");
        int bad = 0;
        for (int i = 0; i < 277; i++) {
            const lst_example_t *dev = perm[i] < 138 ? &d.validation.ex[perm[i]]
                                                     : &d.test.ex[perm[i] - 138];
            const lst_example_t *got = i < 138 ? &s.validation.ex[i] : &s.test.ex[i - 138];
            bad += !ex_eq(dev, got);
        }
        CHECK(bad == 0, "%d rows differ from dev[perm[i]]", bad);
        for (int i = 0; i < 2490; i++) bad += !ex_eq(&d.train.ex[i], &s.train.ex[i]);
        CHECK(bad == 0, "train differs");
    }
    free(perm);
    lst_splits_free(&d);

    /* without the prefix (Adapters baseline) */
    lst_splits_t np;
    rc = lst_glue_load("rte", GLUE_DIR, NULL, 0, &np, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc == 0)
        CHECK(strcmp(np.train.ex[0].source, s.train.ex[0].source + 4) == 0, "no prefix: '%s'",
              np.train.ex[0].source);
    lst_splits_free(&np);
    lst_splits_free(&s);
    CHECK(s.train.n == 0 && s.train.ex == NULL && s.task == NULL, "freed");
}

TEST(glue_sst2_format_and_splits) {
    lst_splits_t s;
    lst_err_t err;
    int rc = lst_glue_load("sst2", GLUE_DIR, NULL, 1, &s, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(s.train.n == 66349 && s.validation.n == 1000 && s.test.n == 872, "sizes %d %d %d",
          s.train.n, s.validation.n, s.test.n);
    /* train keeps file order without the validation rows; row 0 is not one of them.
     * The trailing space of the GLUE sentence is kept, as the reference keeps it. */
    CHECK(strcmp(s.train.ex[0].source,
                 "sst2 sentence: hide new secretions from the parental units ") == 0,
          "train[0] '%s'", s.train.ex[0].source);
    CHECK(strcmp(s.train.ex[0].target, "0") == 0, "train[0] target");
    /* validation[0] = train row 6677 */
    CHECK(strcmp(s.validation.ex[0].source, "sst2 sentence: steals the show ") == 0 &&
              strcmp(s.validation.ex[0].target, "1") == 0,
          "validation[0] '%s'", s.validation.ex[0].source);
    /* test = GLUE dev in file order */
    CHECK(strcmp(s.test.ex[0].source,
                 "sst2 sentence: it 's a charming and often affecting journey . ") == 0 &&
              strcmp(s.test.ex[0].target, "1") == 0,
          "test[0] '%s'", s.test.ex[0].source);

    /* All of train in file order via a one-row validation split, then check
     * validation = T[rows[i]] and train = T minus those rows, in order. */
    const char *dir = tmp_dir("glue_sst2_ident", NULL);
    put(dir, "splits.json", "{\"sst2\": {\"train_rows\": 67349, \"validation_train_rows\": [0]}}");
    char sj[1100];
    snprintf(sj, sizeof sj, "%s/splits.json", dir);
    lst_splits_t a;
    rc = lst_glue_load("sst2", GLUE_DIR, sj, 1, &a, &err);
    CHECK(rc == 0, "%s", err.msg);
    int m = 0, *rows = split_rows("sst2", "validation_train_rows", &m);
    CHECK(m == 1000 && distinct(rows, m, 67349), "validation_train_rows distinct");
    if (rc == 0 && m == 1000) {
        CHECK(a.validation.n == 1 && a.train.n == 67348, "one-row split sizes");
        /* T[i] */
#define T_ROW(i) ((i) == 0 ? &a.validation.ex[0] : &a.train.ex[(i) - 1])
        char *is_val = calloc(67349, 1);
        int bad = 0;
        for (int i = 0; i < 1000; i++) {
            bad += !ex_eq(T_ROW(rows[i]), &s.validation.ex[i]);
            is_val[rows[i]] = 1;
        }
        CHECK(bad == 0, "%d validation rows differ", bad);
        int k = 0;
        for (int i = 0; i < 67349; i++)
            if (!is_val[i]) bad += k < s.train.n ? !ex_eq(T_ROW(i), &s.train.ex[k++]) : 1;
        CHECK(bad == 0 && k == 66349, "train differs (%d, %d)", bad, k);
        for (int i = 0; i < 872; i++) bad += !ex_eq(&a.test.ex[i], &s.test.ex[i]);
        CHECK(bad == 0, "test differs");
        free(is_val);
#undef T_ROW
    }
    free(rows);
    lst_splits_free(&a);
    lst_splits_free(&s);
}

/* The reference's formatted texts for rte and sst2 must all be among ours. */
TEST(glue_matches_reference_samples) {
    FILE *f = fopen("tests/data/tokenizer/t5_glue_samples.jsonl", "rb");
    CHECK(f != NULL, "cannot open the samples");
    if (!f) return;
    lst_splits_t rte, sst2;
    lst_err_t err;
    int r1 = lst_glue_load("rte", GLUE_DIR, NULL, 1, &rte, &err);
    CHECK(r1 == 0, "%s", err.msg);
    int r2 = lst_glue_load("sst2", GLUE_DIR, NULL, 1, &sst2, &err);
    CHECK(r2 == 0, "%s", err.msg);
    char line[1 << 14];
    int checked = 0;
    while (r1 == 0 && r2 == 0 && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const char *task = cJSON_GetStringValue(cJSON_GetObjectItem(o, "task"));
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(o, "text"));
        lst_splits_t *s = task && strcmp(task, "rte") == 0    ? &rte
                          : task && strcmp(task, "sst2") == 0 ? &sst2
                                                              : NULL;
        if (s && text) {
            int found = 0;
            lst_dataset_t *ds[3] = {&s->train, &s->validation, &s->test};
            for (int j = 0; j < 3 && !found; j++)
                for (int i = 0; i < ds[j]->n && !found; i++)
                    found = strcmp(ds[j]->ex[i].source, text) == 0;
            CHECK(found, "reference text not produced: '%s'", text);
            checked++;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    CHECK(checked == 80, "checked %d samples", checked);
    lst_splits_free(&rte);
    lst_splits_free(&sst2);
}

/* ---- the other tasks, on small files in the GLUE layout ---- */

static const char *k_cola_train =
    "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
    "gj04\t0\t*\tThey drank the pub.\n"
    "gj04\t1\t\tOne more pseudo generalization and I'm giving up.\n";
/* no trailing newline, like the real CoLA/dev.tsv */
static const char *k_cola_dev = "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n"
                                "gj04\t0\t*\tThe more does Bill smoke.";
static const char *k_mrpc_train =
    "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the witness \" , of "
    "deliberately distorting his evidence .\tReferring to him as only \" the witness \" , Amrozi "
    "accused his brother of deliberately distorting his evidence .\n"
    "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain to Safeway in 1998 "
    "for $ 2.5 billion .\tYucaipa bought Dominick 's in 1995 for $ 693 million and sold it to "
    "Safeway for $ 1.8 billion in 1998 .\n";
static const char *k_mrpc_dev = "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                "1\t1\t2\tA .\tB .\n0\t3\t4\tC .\tD .\n1\t5\t6\tE .\tF .\n";
static const char *k_stsb_hdr =
    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
static const char *k_stsb_rows =
    "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air "
    "plane is taking off.\t5.000\n"
    "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a large "
    "flute.\tA man is playing a flute.\t3.800\n"
    "2\tx\tx\tx\tx\tx\tx\tA.\tB.\t0.850\n"
    "3\tx\tx\tx\tx\tx\tx\tC.\tD.\t4.450\n";
static const char *k_qqp_hdr = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n";
static const char *k_qqp_rows =
    "133273\t213221\t213222\tHow is the life of a math student? Could you describe your own "
    "experiences?\tWhich level of prepration is enough for the exam jlpt5?\t0\n"
    "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your "
    "horniness?\t1\n"
    "360472\t364011\t490273\tWhat causes stool color to change to yellow?\tWhat can cause "
    "stool to come out as little balls?\t0\n";
static const char *k_qnli_hdr = "index\tquestion\tsentence\tlabel\n";
static const char *k_qnli_rows =
    "0\tWhat came into force after the new constitution was herald?\tAs of that day, the new "
    "constitution heralding the Second Republic came into force.\tentailment\n"
    "1\tWhat is the first major city in the stream of the Rhine?\tThe most important "
    "tributaries in this area are the Ill below of Strasbourg, the Neckar in Mannheim and the "
    "Main across from Mainz.\tnot_entailment\n"
    "2\tQ?\tS.\tnot_entailment\n";
static const char *k_mnli_train =
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
    "0\t31193\t31193n\tgovernment\t( ( Conceptually ( cream skimming ) ) ...\t( ... )\t(ROOT "
    "...)\t(ROOT ...)\tConceptually cream skimming has two basic dimensions - product and "
    "geography.\tProduct and geography are what make cream skimming work. \tneutral\tneutral\n"
    "1\t101457\t101457e\ttelephone\tb\tb\tp\tp\tyou know during the season and i guess at at "
    "your level uh you lose them to the next level\tYou lose the things to the following "
    "level if the people recall.\tentailment\tentailment\n"
    "2\t134793\t134793c\tfiction\tb\tb\tp\tp\tP3.\tH3.\tcontradiction\tcontradiction\n";
static const char *k_mnli_dev_hdr =
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\t"
    "label5\tgold_label\n";

static const char *k_small_splits =
    "{\"cola\": {\"dev_rows\": 2, \"dev_permutation\": [1, 0]},"
    " \"mrpc\": {\"dev_rows\": 3, \"dev_permutation\": [2, 0, 1]},"
    " \"stsb\": {\"dev_rows\": 4, \"dev_permutation\": [3, 2, 1, 0]},"
    " \"qqp\": {\"train_rows\": 3, \"validation_train_rows\": [2]},"
    " \"qnli\": {\"train_rows\": 3, \"validation_train_rows\": [1]}}";

/* Writes the small GLUE tree under <tmp>/glue_small and returns its path. */
static const char *small_glue(void) {
    static char root[1024];
    snprintf(root, sizeof root, "%s", tmp_dir("glue_small", NULL));
    const char *dirs[] = {"CoLA", "MRPC", "STS-B", "QQP", "QNLI", "MNLI"};
    for (int i = 0; i < 6; i++) tmp_dir("glue_small", dirs[i]);
    char buf[4096];
    put(root, "CoLA/train.tsv", k_cola_train);
    put(root, "CoLA/dev.tsv", k_cola_dev);
    put(root, "MRPC/train.tsv", k_mrpc_train);
    put(root, "MRPC/dev.tsv", k_mrpc_dev);
    snprintf(buf, sizeof buf, "%s%s", k_stsb_hdr, k_stsb_rows);
    put(root, "STS-B/train.tsv", buf);
    put(root, "STS-B/dev.tsv", buf);
    snprintf(buf, sizeof buf, "%s%s", k_qqp_hdr, k_qqp_rows);
    put(root, "QQP/train.tsv", buf);
    put(root, "QQP/dev.tsv", buf);
    snprintf(buf, sizeof buf, "%s%s", k_qnli_hdr, k_qnli_rows);
    put(root, "QNLI/train.tsv", buf);
    put(root, "QNLI/dev.tsv", buf);
    put(root, "MNLI/train.tsv", k_mnli_train);
    snprintf(buf, sizeof buf,
             "%s0\t1\t1e\tslate\tb\tb\tp\tp\tMatched premise.\tMatched hypothesis.\tentailment\t"
             "entailment\tentailment\tentailment\tentailment\tentailment\n",
             k_mnli_dev_hdr);
    put(root, "MNLI/dev_matched.tsv", buf);
    snprintf(buf, sizeof buf,
             "%s0\t2\t2c\tverbatim\tb\tb\tp\tp\tMismatched premise.\tMismatched hypothesis.\t"
             "contradiction\tneutral\tcontradiction\tcontradiction\tcontradiction\tcontradiction\n",
             k_mnli_dev_hdr);
    put(root, "MNLI/dev_mismatched.tsv", buf);
    put(root, "paper_splits.json", k_small_splits);
    return root;
}

static void check_ex(const lst_example_t *e, const char *src, const char *tgt, int line) {
    if (strcmp(e->source, src) != 0)
        lst_test_fail(__FILE__, line, "source\n      got  '%s'\n      want '%s'", e->source, src);
    if (strcmp(e->target, tgt) != 0)
        lst_test_fail(__FILE__, line, "target '%s', want '%s'", e->target, tgt);
}

TEST(glue_formats_other_tasks) {
    const char *root = small_glue();
    lst_splits_t s;
    lst_err_t err;

    CHECK(lst_glue_load("cola", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 3 && s.validation.n == 1 && s.test.n == 1, "cola sizes");
    if (s.train.n == 3) {
        check_ex(&s.train.ex[0],
                 "cola sentence: Our friends won't buy this analysis, let alone the next one we "
                 "propose.",
                 "1", __LINE__);
        check_ex(&s.train.ex[1], "cola sentence: They drank the pub.", "0", __LINE__);
        /* permutation [1, 0]: validation = dev row 1 (the last line, no newline) */
        check_ex(&s.validation.ex[0], "cola sentence: The more does Bill smoke.", "0", __LINE__);
        check_ex(&s.test.ex[0], "cola sentence: The sailors rode the breeze clear of the rocks.",
                 "1", __LINE__);
    }
    lst_splits_free(&s);

    CHECK(lst_glue_load("mrpc", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 2 && s.validation.n == 1 && s.test.n == 2, "mrpc sizes");
    if (s.train.n == 2) {
        check_ex(&s.train.ex[0],
                 "mrpc sentence1: Amrozi accused his brother , whom he called \" the witness \" "
                 ", of deliberately distorting his evidence . sentence2: Referring to him as "
                 "only \" the witness \" , Amrozi accused his brother of deliberately distorting "
                 "his evidence .",
                 "1", __LINE__);
        check_ex(&s.train.ex[1],
                 "mrpc sentence1: Yucaipa owned Dominick 's before selling the chain to Safeway "
                 "in 1998 for $ 2.5 billion . sentence2: Yucaipa bought Dominick 's in 1995 for "
                 "$ 693 million and sold it to Safeway for $ 1.8 billion in 1998 .",
                 "0", __LINE__);
        check_ex(&s.validation.ex[0], "mrpc sentence1: E . sentence2: F .", "1", __LINE__);
        check_ex(&s.test.ex[0], "mrpc sentence1: A . sentence2: B .", "1", __LINE__);
        check_ex(&s.test.ex[1], "mrpc sentence1: C . sentence2: D .", "0", __LINE__);
    }
    lst_splits_free(&s);

    CHECK(lst_glue_load("stsb", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 4 && s.validation.n == 2 && s.test.n == 2, "stsb sizes");
    if (s.train.n == 4) {
        check_ex(&s.train.ex[0],
                 "stsb sentence1: A plane is taking off. sentence2: An air plane is taking off.",
                 "5.0", __LINE__);
        check_ex(&s.train.ex[1],
                 "stsb sentence1: A man is playing a large flute. sentence2: A man is playing a "
                 "flute.",
                 "3.8", __LINE__);
        check_ex(&s.train.ex[2], "stsb sentence1: A. sentence2: B.", "0.9", __LINE__);
        check_ex(&s.train.ex[3], "stsb sentence1: C. sentence2: D.", "4.4", __LINE__);
        check_ex(&s.validation.ex[0], "stsb sentence1: C. sentence2: D.", "4.4", __LINE__);
        check_ex(&s.test.ex[1], "stsb sentence1: A plane is taking off. sentence2: An air plane "
                                "is taking off.",
                 "5.0", __LINE__);
    }
    lst_splits_free(&s);

    CHECK(lst_glue_load("qqp", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 2 && s.validation.n == 1 && s.test.n == 3, "qqp sizes");
    if (s.train.n == 2) {
        check_ex(&s.train.ex[0],
                 "qqp question1: How is the life of a math student? Could you describe your own "
                 "experiences? question2: Which level of prepration is enough for the exam "
                 "jlpt5?",
                 "0", __LINE__);
        check_ex(&s.train.ex[1],
                 "qqp question1: How do I control my horny emotions? question2: How do you "
                 "control your horniness?",
                 "1", __LINE__);
        check_ex(&s.validation.ex[0],
                 "qqp question1: What causes stool color to change to yellow? question2: What "
                 "can cause stool to come out as little balls?",
                 "0", __LINE__);
    }
    lst_splits_free(&s);

    CHECK(lst_glue_load("qnli", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 2 && s.validation.n == 1 && s.test.n == 3, "qnli sizes");
    if (s.train.n == 2) {
        check_ex(&s.train.ex[0],
                 "qnli question: What came into force after the new constitution was herald? "
                 "sentence: As of that day, the new constitution heralding the Second Republic "
                 "came into force.",
                 "0", __LINE__);
        check_ex(&s.train.ex[1], "qnli question: Q? sentence: S.", "1", __LINE__);
        check_ex(&s.validation.ex[0],
                 "qnli question: What is the first major city in the stream of the Rhine? "
                 "sentence: The most important tributaries in this area are the Ill below of "
                 "Strasbourg, the Neckar in Mannheim and the Main across from Mainz.",
                 "1", __LINE__);
    }
    lst_splits_free(&s);

    /* mnli: "hypothesis" without a colon; labels 0/1/2; validation =
     * dev_mismatched, test = dev_matched; no split file needed */
    char nojson[1100];
    snprintf(nojson, sizeof nojson, "%s/no-such-splits.json", root);
    CHECK(lst_glue_load("mnli", root, nojson, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 3 && s.validation.n == 1 && s.test.n == 1, "mnli sizes");
    if (s.train.n == 3) {
        check_ex(&s.train.ex[0],
                 "mnli premise: Conceptually cream skimming has two basic dimensions - product "
                 "and geography. hypothesis Product and geography are what make cream skimming "
                 "work. ",
                 "1", __LINE__);
        CHECK(strcmp(s.train.ex[1].target, "0") == 0, "entailment -> 0");
        check_ex(&s.train.ex[2], "mnli premise: P3. hypothesis H3.", "2", __LINE__);
        check_ex(&s.validation.ex[0],
                 "mnli premise: Mismatched premise. hypothesis Mismatched hypothesis.", "2",
                 __LINE__);
        check_ex(&s.test.ex[0], "mnli premise: Matched premise. hypothesis Matched hypothesis.",
                 "0", __LINE__);
    }
    lst_splits_free(&s);

    /* no prefix */
    CHECK(lst_glue_load("mnli", root, NULL, 0, &s, &err) == 0, "%s", err.msg);
    if (s.train.n == 3) check_ex(&s.train.ex[2], "premise: P3. hypothesis H3.", "2", __LINE__);
    lst_splits_free(&s);
}

/* ---- malformed GLUE input ---- */

TEST(glue_malformed_inputs) {
    lst_splits_t s;
    char root[1024];
    snprintf(root, sizeof root, "%s", tmp_dir("glue_bad", "RTE"));
    const char *hdr = "index\tsentence1\tsentence2\tlabel\n";
    char buf[2048];
    const char *dev = "index\tsentence1\tsentence2\tlabel\n0\tA\tB\tentailment\n1\tC\tD\t"
                      "not_entailment\n";
    put(root, "RTE/dev.tsv", dev);
    put(root, "paper_splits.json", "{\"rte\": {\"dev_rows\": 2, \"dev_permutation\": [1, 0]}}");

    EXPECT_FAIL(lst_glue_load("rte", "/nonexistent/glue", NULL, 1, &s, err_),
                "/nonexistent/glue/RTE/train.tsv", "cannot open");
    EXPECT_FAIL(lst_glue_load("wnli", root, NULL, 1, &s, err_), "unknown task", "wnli");

    /* a row with 3 columns on line 3 */
    snprintf(buf, sizeof buf, "%s0\tA\tB\tentailment\n1\tA\tnot_entailment\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:3:",
                "expected 4 tab-separated columns, got 3");
    /* a 5th column (an unquoted TAB inside a sentence) */
    snprintf(buf, sizeof buf, "%s0\tA\tB\tx\tentailment\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:2:", "got 5");
    /* unknown label */
    snprintf(buf, sizeof buf, "%s0\tA\tB\tmaybe\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:2:", "'maybe'");
    /* numeric label where the file has text labels */
    snprintf(buf, sizeof buf, "%s0\tA\tB\t0\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:2:", "label");
    /* empty file, header only, missing column, blank line, invalid UTF-8 */
    put(root, "RTE/train.tsv", "");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv", "empty");
    put(root, "RTE/train.tsv", hdr);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv", "no data rows");
    put(root, "RTE/train.tsv", "index\tsentence1\tsentence2\tgold\n0\tA\tB\tentailment\n");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:1:", "'label'");
    snprintf(buf, sizeof buf, "%s0\tA\tB\tentailment\n\n1\tA\tB\tentailment\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:3:", "got 1");
    snprintf(buf, sizeof buf, "%s0\tA\t\xC3(\tentailment\n", hdr);
    put(root, "RTE/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "RTE/train.tsv:2:", "UTF-8");

    /* a good train; now the split file */
    snprintf(buf, sizeof buf, "%s0\tA\tB\tentailment\n", hdr);
    put(root, "RTE/train.tsv", buf);
    lst_err_t err;
    CHECK(lst_glue_load("rte", root, NULL, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.train.n == 1 && s.validation.n == 1 && s.test.n == 1, "sizes");
    lst_splits_free(&s);
    put(root, "paper_splits.json", "{\"rte\": {\"dev_rows\": 277, \"dev_permutation\": [1, 0]}}");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json",
                "dev_rows is 277 but");
    put(root, "paper_splits.json", "{\"rte\": {\"dev_rows\": 2, \"dev_permutation\": [1, 1]}}");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json", "twice");
    put(root, "paper_splits.json", "{\"rte\": {\"dev_rows\": 2, \"dev_permutation\": [0, 2]}}");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json", "row index");
    put(root, "paper_splits.json", "{\"rte\": {\"dev_rows\": 2, \"dev_permutation\": [0]}}");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json", "entries");
    put(root, "paper_splits.json", "{\"mrpc\": {}}");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json", "rte");
    put(root, "paper_splits.json", "{\"rte\": ");
    EXPECT_FAIL(lst_glue_load("rte", root, NULL, 1, &s, err_), "paper_splits.json", "JSON");
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/missing.json", root);
    EXPECT_FAIL(lst_glue_load("rte", root, missing, 1, &s, err_), "missing.json", "cannot open");
    CHECK(s.train.n == 0 && s.validation.n == 0 && s.test.n == 0, "left empty on failure");

    /* large split: train_rows must match */
    const char *gs = small_glue();
    put(gs, "paper_splits.json", "{\"qnli\": {\"train_rows\": 104743, "
                                 "\"validation_train_rows\": [1]}}");
    EXPECT_FAIL(lst_glue_load("qnli", gs, NULL, 1, &s, err_), "train_rows is 104743 but",
                "QNLI/train.tsv has 3 data rows");
    /* CoLA label outside {0,1}, STS-B score that is not a number, MNLI bad label */
    put(gs, "CoLA/train.tsv", "gj04\t1\t\tA.\ngj04\t2\t\tB.\n");
    EXPECT_FAIL(lst_glue_load("cola", gs, NULL, 1, &s, err_), "CoLA/train.tsv:2:", "'2'");
    put(gs, "CoLA/train.tsv", "gj04\t1\tA.\n");
    EXPECT_FAIL(lst_glue_load("cola", gs, NULL, 1, &s, err_), "CoLA/train.tsv:1:", "got 3");
    snprintf(buf, sizeof buf, "%s0\tx\tx\tx\tx\tx\tx\tA.\tB.\tfive\n", k_stsb_hdr);
    put(gs, "STS-B/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("stsb", gs, NULL, 1, &s, err_), "STS-B/train.tsv:2", "five");
    snprintf(buf, sizeof buf, "%s0\tx\tx\tx\tx\tx\tx\tA.\tB.\t5.5\n", k_stsb_hdr);
    put(gs, "STS-B/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("stsb", gs, NULL, 1, &s, err_), "STS-B/train.tsv:2", "[0, 5]");
    snprintf(buf, sizeof buf, "%s0\t1\t1e\tslate\tb\tb\tp\tp\tP.\tH.\tentailment\t-\n",
             k_mnli_train);
    put(gs, "MNLI/train.tsv", buf);
    EXPECT_FAIL(lst_glue_load("mnli", gs, NULL, 1, &s, err_), "MNLI/train.tsv:5:", "'-'");
    put(gs, "MNLI/train.tsv", k_mnli_train);
    char p[1100];
    snprintf(p, sizeof p, "%s/MNLI/dev_matched.tsv", gs);
    remove(p);
    EXPECT_FAIL(lst_glue_load("mnli", gs, NULL, 1, &s, err_), "MNLI/dev_matched.tsv",
                "cannot open");
}

/* ---- custom data ---- */

TEST(glue_custom_tsv_and_jsonl) {
    const char *dir = tmp_dir("glue_custom", NULL);
    char p[1100];
    lst_dataset_t d;
    lst_err_t err;

    /* other columns ignored, CRLF accepted, text kept as is (quotes, spaces) */
    put(dir, "a.tsv", "id\ttarget\tsource\tnote\r\n1\tyes\tIs it \"so\"? \tx\r\n2\tno\tNot "
                      "really\t\n");
    snprintf(p, sizeof p, "%s/a.tsv", dir);
    CHECK(lst_custom_load(p, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 2, "n %d", d.n);
    if (d.n == 2) {
        check_ex(&d.ex[0], "Is it \"so\"? ", "yes", __LINE__);
        check_ex(&d.ex[1], "Not really", "no", __LINE__);
    }
    lst_dataset_free(&d);
    CHECK(d.n == 0 && d.ex == NULL, "freed");

    put(dir, "b.jsonl", "{\"source\": \"translate: hi\", \"target\": \"salut\", \"id\": 3}\n"
                        "{\"target\": \"b\", \"source\": \"a \\\"q\\\" \\u00e9\\tx\"}");
    snprintf(p, sizeof p, "%s/b.jsonl", dir);
    CHECK(lst_custom_load(p, &d, &err) == 0, "%s", err.msg);
    CHECK(d.n == 2, "n %d", d.n);
    if (d.n == 2) {
        check_ex(&d.ex[0], "translate: hi", "salut", __LINE__);
        check_ex(&d.ex[1], "a \"q\" \xC3\xA9\tx", "b", __LINE__);
    }
    lst_dataset_free(&d);
}

TEST(glue_custom_malformed) {
    const char *dir = tmp_dir("glue_custom_bad", NULL);
    char p[1100];
    lst_dataset_t d;
#define CUSTOM(name, text) (put(dir, name, text), snprintf(p, sizeof p, "%s/%s", dir, name), p)

    snprintf(p, sizeof p, "%s/missing.jsonl", dir);
    EXPECT_FAIL(lst_custom_load(p, &d, err_), "missing.jsonl", "cannot open");
    EXPECT_FAIL(lst_custom_load(CUSTOM("x.csv", "source,target\na,b\n"), &d, err_), "x.csv",
                ".tsv or .jsonl");
    EXPECT_FAIL(lst_custom_load(CUSTOM("e.jsonl", ""), &d, err_), "e.jsonl", "no examples");
    EXPECT_FAIL(lst_custom_load(CUSTOM("e.tsv", ""), &d, err_), "e.tsv", "empty");
    EXPECT_FAIL(lst_custom_load(CUSTOM("h.tsv", "source\ttarget\n"), &d, err_), "h.tsv",
                "no examples");
    EXPECT_FAIL(lst_custom_load(CUSTOM("c.tsv", "source\ttarget\na\tb\nc\n"), &d, err_),
                "c.tsv:3:", "got 1");
    EXPECT_FAIL(lst_custom_load(CUSTOM("n.tsv", "source\tlabel\na\tb\n"), &d, err_), "n.tsv:1:",
                "'target'");
    EXPECT_FAIL(lst_custom_load(CUSTOM("t.tsv", "source\ttarget\tsource\na\tb\tc\n"), &d, err_),
                "t.tsv:1:", "twice");
    EXPECT_FAIL(lst_custom_load(CUSTOM("j.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n"
                                                  "{\"source\": \"a\", \"target\": }\n"),
                                &d, err_),
                "j.jsonl:2:", "invalid JSON");
    EXPECT_FAIL(lst_custom_load(CUSTOM("k.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n"
                                                  "{\"source\": \"a\", \"target\": \"b\"}\n"
                                                  "{\"target\": \"b\"}\n"),
                                &d, err_),
                "k.jsonl:3:", "\"source\"");
    EXPECT_FAIL(lst_custom_load(CUSTOM("l.jsonl", "{\"source\": \"a\", \"target\": 1}\n"), &d,
                                err_),
                "l.jsonl:1:", "not a string");
    EXPECT_FAIL(lst_custom_load(CUSTOM("m.jsonl", "[\"a\", \"b\"]\n"), &d, err_), "m.jsonl:1:",
                "object");
    EXPECT_FAIL(lst_custom_load(CUSTOM("o.jsonl", "{\"source\": \"a\", \"target\": \"b\"} x\n"),
                                &d, err_),
                "o.jsonl:1:", "invalid JSON");
    EXPECT_FAIL(lst_custom_load(CUSTOM("q.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n\n"),
                                &d, err_),
                "q.jsonl:2:", "invalid JSON");
    EXPECT_FAIL(lst_custom_load(CUSTOM("r.jsonl", "{\"source\": \"a\xff\", \"target\": \"b\"}\n"),
                                &d, err_),
                "r.jsonl:1:", "UTF-8");
    EXPECT_FAIL(lst_custom_load(NULL, &d, err_), "no custom data", NULL);
    CHECK(d.n == 0 && d.ex == NULL, "left empty on failure");
#undef CUSTOM
}

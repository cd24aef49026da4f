/* The judge from C on both engines: function mode, WASI mode, verdicts, reports. */
#include <stdint.h>

#include "check.h"

static const char ADD[] =
    "(module (func (export \"add\") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)\n"
    "        (func (export \"spin\") (param i64) (result i64) (loop $l br $l) i64.const 0))";

static const char FUNCTION_TESTS[] =
    "{\"tests\": [{\"id\": 1, \"input\": \"5 7\", \"expected_output\": \"12\"},\n"
    "             {\"id\": 2, \"input\": \"1 1\", \"expected_output\": \"3\"},\n"
    "             {\"id\": 3, \"input\": \"-4 4\", \"expected_output\": \"0\"}]}";

static const char STDIN_TESTS[] =
    "[{\"id\": \"a\", \"input\": \"5 7\\n\", \"expected_output\": \"12\\n\"},\n"
    " {\"id\": \"b\", \"input\": \"100 -1\\n\", \"expected_output\": \"99\\n\"}]";

static void judge(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    sandbox_judge_report_t *report = NULL;
    OK(sandbox_judge(options, (const uint8_t *)ADD, strlen(ADD), FUNCTION_TESTS, "add", 2, &report));
    CHECK(sandbox_judge_report_verdict(report) == SANDBOX_VERDICT_WRONG_ANSWER);
    CHECK(sandbox_judge_report_passed(report) == 2 && sandbox_judge_report_total(report) == 3);
    CHECK(sandbox_judge_report_test_verdict(report, 0) == SANDBOX_VERDICT_ACCEPTED);
    CHECK(sandbox_judge_report_test_verdict(report, 1) == SANDBOX_VERDICT_WRONG_ANSWER);
    CHECK(sandbox_judge_report_test_verdict(report, 2) == SANDBOX_VERDICT_ACCEPTED);
    CHECK(sandbox_judge_report_test_verdict(report, 3) == SANDBOX_VERDICT_COMPILATION_ERROR);
    const char *json = sandbox_judge_report_json(report);
    CHECK(json != NULL && strstr(json, "\"verdict\":\"wrong_answer\"") != NULL);
    CHECK(strcmp(sandbox_verdict_name(SANDBOX_VERDICT_WRONG_ANSWER), "wrong_answer") == 0);
    sandbox_judge_report_delete(report);

    /* A solution that never ends: time limit exceeded, per test. */
    static const char SPIN_TESTS[] =
        "[{\"id\": 1, \"input\": \"1\", \"expected_output\": \"0\", \"time_limit_ms\": 50}]";
    OK(sandbox_judge(options, (const uint8_t *)ADD, strlen(ADD), SPIN_TESTS, "spin", 1, &report));
    CHECK(sandbox_judge_report_verdict(report) == SANDBOX_VERDICT_TIME_LIMIT_EXCEEDED);
    sandbox_judge_report_delete(report);

    /* A WASI program built by clang, judged on stdin/stdout. */
    size_t len = 0;
    uint8_t *sum = read_fixture("sum.wasm", &len);
    if (sum != NULL) {
        OK(sandbox_judge(options, sum, len, STDIN_TESTS, NULL, 0, &report));
        CHECK(sandbox_judge_report_verdict(report) == SANDBOX_VERDICT_ACCEPTED);
        CHECK(sandbox_judge_report_passed(report) == 2);
        sandbox_judge_report_delete(report);
        free(sum);
    }

    /* A solution that does not load is a report, not an error. */
    OK(sandbox_judge(options, (const uint8_t *)"garbage", 7, STDIN_TESTS, NULL, 0, &report));
    CHECK(sandbox_judge_report_verdict(report) == SANDBOX_VERDICT_COMPILATION_ERROR);
    CHECK(sandbox_judge_report_passed(report) == 0 && sandbox_judge_report_total(report) == 2);
    sandbox_judge_report_delete(report);

    /* An unusable test file or argument is an error, and the out-parameter stays NULL. */
    report = NULL;
    FAILS(sandbox_judge(options, (const uint8_t *)ADD, strlen(ADD), "{not json", "add", 0, &report),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_judge(options, (const uint8_t *)ADD, strlen(ADD), NULL, "add", 0, &report),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_judge(options, NULL, 10, FUNCTION_TESTS, "add", 0, &report),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_judge(options, (const uint8_t *)ADD, strlen(ADD), FUNCTION_TESTS, "add", 0, NULL),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(report == NULL);
    CHECK(sandbox_judge_report_verdict(NULL) == SANDBOX_VERDICT_COMPILATION_ERROR);
    CHECK(sandbox_judge_report_json(NULL) == NULL);
    sandbox_options_delete(options);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        judge(BACKENDS[i]);
    }
    /* NULL options: the default preset on the default engine. */
    sandbox_judge_report_t *report = NULL;
    OK(sandbox_judge(NULL, (const uint8_t *)ADD, strlen(ADD), FUNCTION_TESTS, "add", 1, &report));
    CHECK(sandbox_judge_report_total(report) == 3);
    sandbox_judge_report_delete(report);
    return finish("judge");
}

/*
 * reap RESULT -- COMMAND [ARG...]: run COMMAND, and when wait4() reaps it write
 * "EXIT_NS STATUS MAXRSS_KIB" to RESULT: CLOCK_MONOTONIC read right after wait4() returns (the
 * clock Python's time.monotonic_ns() reads), the exit code (128+signal if killed) and the
 * child's ru_maxrss. Exits with the child's status.
 *
 * Why C: a child's ru_maxrss is at least the resident size of the process it was forked from
 * (Linux keeps the high-water mark of the pre-exec copy), so a waiter started straight from
 * Python would be charged the interpreter's ~13 MiB. Started from this process, it is charged at
 * most this one's few hundred KiB, far below any waiter's own peak. cargo needs a C toolchain
 * to link on Linux, so `cc` is there wherever depwait builds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: reap RESULT -- COMMAND [ARG...]\n");
        return 2;
    }
    pid_t pid = vfork();
    if (pid < 0) {
        perror("vfork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[3], &argv[3]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t got;
    do {
        got = wait4(pid, &status, 0, &ru);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        perror("wait4");
        return 2;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (f) {
        fprintf(f, "%lld %d %ld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec, code,
                ru.ru_maxrss);
        fclose(f);
    }
    return code;
}

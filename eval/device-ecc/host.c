/* Host (x86) build of bench.c: stdout, no tick counter (callgrind counts instructions instead). */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

int bench_main(void);
void out(const char *s) { fputs(s, stdout); }
uint32_t ticks(void) { return 0; }
void done(int code) { exit(code); }
int main(void) { return bench_main(); }

/*
 * Bare-metal start-up for qemu's lm3s6965evb (a Cortex-M3): vector table, .data/.bss set-up,
 * ARM semihosting for output and exit, and SysTick as the tick counter. Under `qemu -icount
 * shift=0` virtual time advances by exactly 1 ns per instruction, so SysTick ticks are proportional
 * to instructions; the calibration loop gives the ratio.
 */
#include <stdint.h>

int bench_main(void);
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void out(const char *s) { semihost(0x04, s); /* SYS_WRITE0 */ }

void done(int code) {
  /* SYS_EXIT with ADP_Stopped_ApplicationExit; qemu exits with status 0, so the result line says more. */
  (void)code;
  semihost(0x18, (const void *)0x20026);
  for (;;) {
  }
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

/* SysTick counts down over 24 bits; the operations measured here stay well inside one wrap. */
uint32_t ticks(void) { return (0x00FFFFFFu - SYST_CVR) & 0x00FFFFFFu; }

static void put_u(uint32_t v) {
  char b[12];
  int i = 11;
  b[i] = 0;
  b[--i] = '\n';
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  out(b + i);
}

/* A loop of exactly 2 instructions per iteration (subs, bne). */
static uint32_t calibrate(uint32_t iterations) {
  uint32_t t0 = ticks();
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(iterations) : : "cc");
  return (ticks() - t0) & 0x00FFFFFFu;
}

void reset_handler(void) {
  uint32_t *src = &_sidata;
  for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  SYST_RVR = 0x00FFFFFF;
  SYST_CVR = 0;
  SYST_CSR = 5; /* enable, processor clock, no interrupt */
  while (SYST_CVR == 0) {
  } /* the first reload happens on the first tick */
  out("calib-instructions 2000000\ncalib-ticks ");
  put_u(calibrate(1000000));
  int bad = bench_main();
  done(bad);
}

static void hang(void) {
  out("fault\n");
  done(1);
}

__attribute__((section(".vectors"), used)) static const void *vectors[] = {
    &_estack, (const void *)reset_handler, (const void *)hang, (const void *)hang,
    (const void *)hang, (const void *)hang, (const void *)hang,
};

/* gcc may call these for struct copies and zeroing. */
void *memcpy(void *d, const void *s, unsigned n) {
  uint8_t *a = d;
  const uint8_t *b = s;
  while (n--) *a++ = *b++;
  return d;
}
void *memset(void *d, int c, unsigned n) {
  uint8_t *a = d;
  while (n--) *a++ = (uint8_t)c;
  return d;
}

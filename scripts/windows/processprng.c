/* A stand-in bcryptprimitives.dll for Wine 8 (Debian bookworm), which lacks it: Rust's
 * standard library on Windows takes its random numbers from ProcessPrng there (Windows 10
 * and later have it). This one answers from RtlGenRandom (advapi32's SystemFunction036).
 * Only for scripts/windows-smoke.sh under Wine; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n)) {
            return FALSE;
        }
        data += n;
        length -= n;
    }
    return TRUE;
}

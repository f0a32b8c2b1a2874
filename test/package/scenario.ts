/** A scenario touching the VMA layer and KSM, shared by the package tests (main thread and workers). */
export const PACKAGE_SCENARIO = `
mmap 0x100000000000 64p rw- private|anon|fixed
mprotect 0x100000004000 4p r--
madvise 0x100000000000 64p mergeable
write 0x100000010000 32p cycle 4
ksm run=1
ksm_scan 3
maps
ksm_stat
`;

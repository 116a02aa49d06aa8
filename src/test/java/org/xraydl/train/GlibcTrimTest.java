package org.xraydl.train;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** malloc_trim is found on a glibc Linux (the machines this pipeline runs its soaks on) and hands back freed memory. */
class GlibcTrimTest {

    @Test
    void trimsOnGlibcLinux() {
        assumeTrue(Files.exists(Path.of("/proc/self/status")) && Files.exists(Path.of("/lib/x86_64-linux-gnu/libc.so.6")),
                "a glibc x86-64 Linux");
        assertTrue(GlibcTrim.available());
        // 64 MB malloc'd and freed in small blocks leaves free pages behind that only a trim returns
        long[] addresses = new long[4096];
        for (int i = 0; i < addresses.length; i++) {
            addresses[i] = com.sun.jna.Native.malloc(16_384);
        }
        for (int i = 0; i < addresses.length; i += 2) { // every other block: the holes stay inside the heap
            com.sun.jna.Native.free(addresses[i]);
        }
        assertTrue(GlibcTrim.trim(), "freed pages inside the heap are handed back");
        for (int i = 1; i < addresses.length; i += 2) {
            com.sun.jna.Native.free(addresses[i]);
        }
        assertEquals(true, GlibcTrim.available(), "looked up once, still there");
    }
}

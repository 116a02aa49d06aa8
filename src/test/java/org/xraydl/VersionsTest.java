package org.xraydl;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VersionsTest {
    @Test
    void theDl4jVersionReadFromTheJarIsThePomsVersion() throws Exception {
        String pom = Files.readString(TestData.projectDir().resolve("pom.xml"));
        Matcher m = Pattern.compile("<dl4j.version>([^<]+)</dl4j.version>").matcher(pom);
        assertTrue(m.find(), "pom.xml sets dl4j.version");
        assertEquals(m.group(1), Versions.dl4j());
    }
}

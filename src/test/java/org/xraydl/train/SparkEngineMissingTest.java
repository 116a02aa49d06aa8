package org.xraydl.train;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.UserError;
import org.xraydl.cli.Main;
import org.xraydl.config.ConfigLoader;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The default build has no Spark: --engine spark must say, in one line, to build with -Pspark. */
class SparkEngineMissingTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void onlyWithoutTheSparkProfile() {
        boolean present;
        try {
            Class.forName("org.xraydl.spark.SparkEngine");
            present = true;
        } catch (ClassNotFoundException e) {
            present = false;
        }
        assumeFalse(present, "built with -Pspark: SparkEngine is on the classpath");
    }

    @Test
    void engineSparkWithoutTheProfileAsksForIt() {
        UserError e = assertThrows(UserError.class, () -> Trainer.engine(ConfigLoader.load(null, Map.of("engine", "spark"))));
        assertTrue(e.getMessage().contains("-Pspark"), e.getMessage());
    }

    @Test
    void theCliSaysSoInOneLineAndCreatesNoRunFolder() {
        Path out = tmp.resolve("run");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            code = Main.run("train", "--engine", "spark", "--out", out.toString(), "--no-progress",
                    "--data", Path.of(System.getProperty("project.basedir", ".")).resolve("data/chest-xray-sample").toString());
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(2, code, text);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.startsWith("error: --engine spark needs the Spark build: run Maven with -Pspark"), text);
        assertFalse(Files.exists(out), "no run folder for a run that cannot start");
    }
}

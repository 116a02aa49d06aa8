package org.xraydl.model.io;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-made {@code coefficients.bin} / {@code updaterState.bin} / {@code xraydl_weight_average.bin} entries, written byte by byte in ND4J's
 * format (buffer header: UTF allocation mode, long length, UTF data type; then the numbers), so the
 * expected values do not come from the code under test.
 */
class HostileArrayEntryTest {
    static ComputationGraph net;
    static float[] params;

    @BeforeAll
    static void tinyNet() {
        RunConfig c = TestData.tinyConfig(Map.of());
        net = ModelFactory.create(c, 2, null);
        params = net.params().toFloatVector();
    }

    @Test
    void aHugeDeclaredArrayIsRefusedInOneLineWithoutAllocating(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        long huge = 1L << 40; // 4 TB of floats: any attempt to allocate it fails
        Path bigData = ZipEdits.replace(good, dir.resolve("big-data.zip"), ModelZip.COEFFICIENTS, array(huge, huge, new float[16]));
        assertRefused(bigData, "coefficients.bin declares " + huge + " numbers but configuration.json implies " + params.length);

        // The shape information buffer is allocated first, at the length its own header declares.
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeUTF("MIXED_DATA_TYPES");
        out.writeLong(Long.MAX_VALUE / 8);
        out.writeUTF("LONG");
        out.writeLong(1);
        Path bigShape = ZipEdits.replace(good, dir.resolve("big-shape.zip"), ModelZip.COEFFICIENTS, b.toByteArray());
        assertRefused(bigShape, "coefficients.bin declares a shape of " + (Long.MAX_VALUE / 8) + " numbers");

        Path bigUpdater = ZipEdits.replace(good, dir.resolve("big-updater.zip"), ModelZip.UPDATER_STATE, array(huge, huge, new float[16]));
        assertRefused(bigUpdater, "updaterState.bin declares " + huge + " numbers");
        // --weights never reads the updater state: the same file gives its network.
        assertArrayEquals(params, WeightFiles.load(bigUpdater).params().toFloatVector());
    }

    @Test
    void aLengthOtherThanTheConfigurationsOrAShortEntryIsRefused(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        // Consistent in itself (shape = length = numbers present), one parameter more than the network has.
        float[] oneMore = Arrays.copyOf(params, params.length + 1);
        Path extra = ZipEdits.replace(good, dir.resolve("one-more.zip"), ModelZip.COEFFICIENTS, array(oneMore.length, oneMore.length, oneMore));
        assertRefused(extra, "declares " + oneMore.length + " numbers but configuration.json implies " + params.length);

        Path shapeMismatch = ZipEdits.replace(good, dir.resolve("shape.zip"), ModelZip.COEFFICIENTS, array(params.length - 1, params.length, params));
        assertRefused(shapeMismatch, "declares " + params.length + " numbers for a shape of " + (params.length - 1));

        // The right header, half the numbers: the byte count 4 * length is independent arithmetic.
        float[] half = Arrays.copyOf(params, params.length / 2);
        Path truncated = ZipEdits.replace(good, dir.resolve("truncated.zip"), ModelZip.COEFFICIENTS, array(params.length, params.length, half));
        assertRefused(truncated, "truncated: it declares " + 4L * params.length + " bytes of numbers and holds " + 4L * half.length);

        Path headerOnly = ZipEdits.replace(good, dir.resolve("header.zip"), ModelZip.COEFFICIENTS, new byte[]{0, 16, 'M', 'I'});
        assertRefused(headerOnly, "ends inside its header");
    }

    @Test
    void aHandWrittenExactEntryAndTheSavedZipLoadWithIdenticalParameters(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        assertArrayEquals(params, ModelBundle.load(good).network().params().toFloatVector());
        // The same numbers written by this test in ND4J's format: proves the header reading matches Nd4j.write.
        Path rewritten = ZipEdits.replace(good, dir.resolve("rewritten.zip"), ModelZip.COEFFICIENTS, array(params.length, params.length, params));
        assertArrayEquals(params, ModelBundle.load(rewritten).network().params().toFloatVector());
        assertArrayEquals(params, WeightFiles.load(rewritten).params().toFloatVector());
    }

    /** A zip whose own size for the entry is right but whose numbers run out: refused as they run out, in one line. */
    @Test
    void aShortStreamWhoseSizeIsUnknownIsRefusedWhenItsNumbersRunOut() throws Exception {
        float[] half = Arrays.copyOf(params, params.length / 2);
        byte[] bytes = array(params.length, params.length, half);
        UserError e = assertThrows(UserError.class,
                () -> ArrayEntry.read(new java.io.ByteArrayInputStream(bytes), "entry", params.length, -1));
        assertTrue(e.getMessage().contains("truncated: it declares " + 4L * params.length + " bytes of numbers and holds "
                + 4L * half.length), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        // The whole entry through the same path: the numbers written by this test.
        byte[] full = array(params.length, params.length, params);
        assertArrayEquals(params, ArrayEntry.read(new java.io.ByteArrayInputStream(full), "entry", params.length, -1).toFloatVector());
    }

    /** Each array entry is inflated once: the header check and Nd4j.read share one stream. */
    @Test
    void eachArrayEntryIsOpenedOnce(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        Map<String, Integer> opened = new java.util.TreeMap<>();
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(good.toFile()) {
            @Override
            public java.io.InputStream getInputStream(java.util.zip.ZipEntry entry) throws IOException {
                opened.merge(entry.getName(), 1, Integer::sum);
                return super.getInputStream(entry);
            }
        }) {
            ComputationGraph back = ModelZip.restoreGraph(zip, true);
            assertArrayEquals(params, back.params().toFloatVector());
            assertArrayEquals(net.getUpdater().getStateViewArray().toFloatVector(), back.getUpdater().getStateViewArray().toFloatVector());
        }
        assertEquals(Map.of(ModelZip.CONFIGURATION, 1, ModelZip.COEFFICIENTS, 1, ModelZip.UPDATER_STATE, 1), opened);
    }

    /**
     * The weight average of an emaDecay training ({@value ModelZip#WEIGHT_AVERAGE}, in last.zip) is read as the weights
     * are: its header must declare the network's parameter count before anything is allocated, and the entry must hold
     * its numbers. Zips without it (best.zip, every older zip) have none; --weights ignores it.
     */
    @Test
    void theWeightAverageEntryRoundTripsAndIsCheckedAsTheWeightsAre(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of());
        float[] avg = new float[params.length];
        for (int i = 0; i < avg.length; i++) {
            avg[i] = params[i] * 0.5f + i % 7; // not the weights
        }
        Path withAverage = dir.resolve("last.zip");
        new ModelBundle(net, Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of(), null,
                org.nd4j.linalg.factory.Nd4j.create(avg, new long[]{1, avg.length}, 'c')).save(withAverage, true);
        ModelBundle back = ModelBundle.load(withAverage);
        assertArrayEquals(avg, back.weightAverage().toFloatVector());
        assertArrayEquals(params, back.network().params().toFloatVector(), "the network keeps its own weights");
        assertArrayEquals(params, WeightFiles.load(withAverage).params().toFloatVector());
        assertEquals(null, ModelBundle.load(bundle(dir)).weightAverage(), "a zip saved without an average has none");

        // The same numbers written by this test in ND4J's format load as they are.
        Path handWritten = ZipEdits.replace(withAverage, dir.resolve("hand.zip"), ModelZip.WEIGHT_AVERAGE, array(avg.length, avg.length, avg));
        assertArrayEquals(avg, ModelBundle.load(handWritten).weightAverage().toFloatVector());

        float[] oneMore = Arrays.copyOf(avg, avg.length + 1);
        Path extra = ZipEdits.replace(withAverage, dir.resolve("one-more.zip"), ModelZip.WEIGHT_AVERAGE, array(oneMore.length, oneMore.length, oneMore));
        assertAverageRefused(extra, ModelZip.WEIGHT_AVERAGE + " declares " + oneMore.length + " numbers but configuration.json implies " + params.length);
        long huge = 1L << 40;
        Path big = ZipEdits.replace(withAverage, dir.resolve("big.zip"), ModelZip.WEIGHT_AVERAGE, array(huge, huge, new float[16]));
        assertAverageRefused(big, ModelZip.WEIGHT_AVERAGE + " declares " + huge + " numbers");
        float[] half = Arrays.copyOf(avg, avg.length / 2);
        Path truncated = ZipEdits.replace(withAverage, dir.resolve("truncated.zip"), ModelZip.WEIGHT_AVERAGE, array(avg.length, avg.length, half));
        assertAverageRefused(truncated, "truncated: it declares " + 4L * avg.length + " bytes of numbers and holds " + 4L * half.length);
    }

    /**
     * With a frozen trunk the average holds the trainable parameters only (the head here); a last.zip written before
     * that holds all of them and is read as its trainable part; any other length is refused in one line naming the
     * file and both lengths.
     */
    @Test
    void aFrozenTrunksAverageHoldsTheHeadAndAnOlderFullLengthOneIsCutToIt(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of("freezeTrunk", true));
        ComputationGraph frozen = ModelFactory.create(c, 2, null);
        float[] p = frozen.params().toFloatVector();
        boolean[] head = TestData.headMask(frozen);
        float[] headAvg = new float[0];
        for (int i = 0; i < p.length; i++) {
            if (head[i]) {
                headAvg = Arrays.copyOf(headAvg, headAvg.length + 1);
                headAvg[headAvg.length - 1] = p[i] * 0.5f + i % 5;
            }
        }
        assertTrue(headAvg.length > 0 && headAvg.length < p.length / 4, headAvg.length + " of " + p.length);
        Preprocessing pre = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        Path last = dir.resolve("last.zip");
        new ModelBundle(frozen, pre, c, Map.of(), null,
                org.nd4j.linalg.factory.Nd4j.create(headAvg, new long[]{1, headAvg.length}, 'c')).save(last, true);
        assertArrayEquals(headAvg, ModelBundle.load(last).weightAverage().toFloatVector());
        assertArrayEquals(p, ModelBundle.load(last).network().params().toFloatVector());
        // Written through ND4J as this test's own numbers: the head's values in place, NaN for every frozen parameter,
        // so a reader that kept any of the frozen part would show it.
        float[] full = new float[p.length];
        for (int i = 0, j = 0; i < p.length; i++) {
            full[i] = head[i] ? headAvg[j++] : Float.NaN;
        }
        Path older = ZipEdits.replace(last, dir.resolve("older.zip"), ModelZip.WEIGHT_AVERAGE, array(full.length, full.length, full));
        assertArrayEquals(headAvg, ModelBundle.load(older).weightAverage().toFloatVector(), "the trainable part of an older full-length average");

        String implied = "configuration.json implies " + headAvg.length + " (its trainable parameters) or " + p.length + " (all its parameters";
        float[] oneMore = Arrays.copyOf(headAvg, headAvg.length + 1);
        assertAverageRefused(ZipEdits.replace(last, dir.resolve("one-more.zip"), ModelZip.WEIGHT_AVERAGE, array(oneMore.length, oneMore.length, oneMore)),
                ModelZip.WEIGHT_AVERAGE + " declares " + oneMore.length + " numbers but " + implied);
        float[] oneLess = Arrays.copyOf(full, full.length - 1);
        assertAverageRefused(ZipEdits.replace(last, dir.resolve("one-less.zip"), ModelZip.WEIGHT_AVERAGE, array(oneLess.length, oneLess.length, oneLess)),
                ModelZip.WEIGHT_AVERAGE + " declares " + oneLess.length + " numbers but " + implied);
        // The writer refuses an average of another length (a program error, not a user's).
        assertThrows(IllegalStateException.class, () -> new ModelBundle(frozen, pre, c, Map.of(), null,
                org.nd4j.linalg.factory.Nd4j.create(full, new long[]{1, full.length}, 'c')).save(dir.resolve("full.zip"), true));
    }

    private static void assertAverageRefused(Path zip, String part) {
        UserError e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(UserError.class, () -> ModelBundle.load(zip)));
        assertTrue(e.getMessage().contains(zip.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    private static void assertRefused(Path zip, String part) {
        UserError e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(UserError.class, () -> ModelBundle.load(zip)));
        assertTrue(e.getMessage().contains(zip.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        if (!part.startsWith(ModelZip.UPDATER_STATE)) {
            UserError w = assertThrows(UserError.class, () -> WeightFiles.load(zip));
            assertTrue(w.getMessage().contains(part), w.getMessage());
        }
    }

    /** ND4J's array format: a rank-1 shape of {@code shape} numbers, then a FLOAT buffer declaring {@code length}. */
    private static byte[] array(long shape, long length, float[] values) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeUTF("MIXED_DATA_TYPES");
        out.writeLong(6);
        out.writeUTF("LONG");
        for (long v : new long[]{1, shape, 1, 8192, 1, 'c'}) {
            out.writeLong(v);
        }
        out.writeUTF("MIXED_DATA_TYPES");
        out.writeLong(length);
        out.writeUTF("FLOAT");
        for (float v : values) {
            out.writeFloat(v);
        }
        out.flush();
        return b.toByteArray();
    }

    private static Path bundle(Path dir) {
        RunConfig c = TestData.tinyConfig(Map.of());
        Path zip = dir.resolve("good.zip");
        new ModelBundle(net, Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of()).save(zip, true);
        return zip;
    }
}

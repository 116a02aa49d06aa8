package org.xraydl.diagnose;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.cli.CliRunner;
import org.xraydl.cli.CliRunner.Outcome;
import org.xraydl.data.ImageRandom;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC1;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.diagnose.DiagnoseErrors.assertUserError;

class ImagePathDumpTest {

    /** A grey PNG (lossless, so the levels are exact): {@code left} in columns below {@code split}, {@code right} from it on. */
    private static Path png(Path dir, String name, int rows, int cols, int split, int left, int right) throws Exception {
        Files.createDirectories(dir);
        Path f = dir.resolve(name);
        try (Mat m = new Mat(rows, cols, CV_8UC1, new Scalar(left))) {
            if (split < cols) {
                try (Mat r = m.apply(new Rect(split, 0, cols - split, rows))) {
                    r.put(new Scalar(right));
                }
            }
            assertTrue(imwrite(f.toString(), m));
        }
        return f;
    }

    @Test
    void dumpsDecodeEvaluationAndAugmentedViewsWithHandComputedValues(@TempDir Path tmp) throws Exception {
        png(tmp.resolve("NORMAL"), "a.png", 20, 20, 10, 0, 200);   // left half black, right half 200
        png(tmp.resolve("NORMAL"), "b.png", 20, 20, 20, 9, 9);     // not sampled (every 2nd file of 2, one per class)
        png(tmp.resolve("PNEUMONIA"), "c.png", 30, 20, 20, 100, 100); // uniform 100, 30 rows x 20 columns

        List<LabeledImage> images = ImagePathDump.sample(tmp, 1);
        assertEquals(List.of("a.png", "c.png"), images.stream().map(i -> i.file().getFileName().toString()).toList());

        // Decode at each file's own size would concatenate different shapes: one file alone.
        INDArray dec = ImagePathDump.decode(images.subList(1, 2));
        assertArrayEquals(new long[]{1, 3, 30, 20}, dec.shape());
        assertEquals(100.0, dec.minNumber().doubleValue());
        assertEquals(100.0, dec.maxNumber().doubleValue());

        // Evaluation at 8 px with resize ratio 1.25: shorter side 20 -> 10 (area averaging, 2x2 blocks), centre crop
        // from offset (10 - 8) / 2 = 1. Image a: resized columns 0-4 black, 5-9 200; cropped columns 1..8 -> 0-3 black, 4-7 200.
        Preprocessing p = new Preprocessing(List.of("NORMAL", "PNEUMONIA"), 8, 3, 1.25, "imagenet");
        INDArray ev = ImagePathDump.evaluation(images, p);
        assertArrayEquals(new long[]{2, 3, 8, 8}, ev.shape());
        // Plane 0 is blue in DataVec's BGR order: mean 0.406, std 0.225; plane 2 red: 0.485, 0.229.
        double blackB = (0 - 0.406) / 0.225;            // -1.804444
        double level200R = (200 / 255.0 - 0.485) / 0.229; // 1.307038
        double level100B = (100 / 255.0 - 0.406) / 0.225; // -0.061525
        double level100R = (100 / 255.0 - 0.485) / 0.229; // -0.405429
        for (int y = 0; y < 8; y++) {
            assertEquals(blackB, ev.getDouble(0, 0, y, 0), 1e-5);
            assertEquals(blackB, ev.getDouble(0, 0, y, 3), 1e-5);
            assertEquals(level200R, ev.getDouble(0, 2, y, 4), 1e-5);
            assertEquals(level200R, ev.getDouble(0, 2, y, 7), 1e-5);
            assertEquals(level100B, ev.getDouble(1, 0, y, y), 1e-5);
            assertEquals(level100R, ev.getDouble(1, 2, y, 7 - y), 1e-5);
        }

        // Three augmented views of each: rows ordered view-major; each view's angle is DataVec's third draw
        // (centre y, centre x, angle, scale) from the image's Random: angle = max * (2u - 1).
        double[] angles = new double[6];
        INDArray aug = ImagePathDump.augmented(images, p, 3, 10, 0.7, 5, angles);
        assertArrayEquals(new long[]{6, 3, 8, 8}, aug.shape());
        for (int i = 0; i < 6; i++) {
            Random r = ImageRandom.forImage(5, i);
            r.nextFloat();
            r.nextFloat();
            float expected = 10f * (2 * r.nextFloat() - 1);
            assertEquals(expected, angles[i], 1e-4, "view " + i);
            assertTrue(Math.abs(angles[i]) <= 10);
        }
        assertNotEquals(angles[0], angles[2]); // the same file, another view: another angle
    }

    /** Two classes, three small PNGs of one size (decode.npy holds them in one array): a.png and b.png in NORMAL, c.png in PNEUMONIA. */
    private static Path tinyData(Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        png(data.resolve("NORMAL"), "a.png", 20, 20, 10, 0, 200);
        png(data.resolve("NORMAL"), "b.png", 20, 20, 20, 9, 9);
        png(data.resolve("PNEUMONIA"), "c.png", 20, 20, 20, 100, 100);
        return data;
    }

    private static Outcome dump(String... args) {
        return CliRunner.capture(() -> ImagePathDump.run(args));
    }

    @Test
    void theEntryPointWritesTheDumpAndPrintsItsOneLineSummary(@TempDir Path tmp) throws Exception {
        Path data = tinyData(tmp);
        Path out = tmp.resolve("out");
        Outcome o = dump("--data", data.toString(), "--per-class", "1", "--size", "8", "--resize-ratio", "1.25", "--aug", "2",
                "--seed", "5", "--out", out.toString());
        assertEquals(0, o.code(), o.err());
        assertEquals("2 files, 4 augmented views (seed 5) -> " + out + System.lineSeparator(), o.out());
        for (String f : List.of("files.txt", "decode.npy", "eval.npy", "aug.npy", "aug_angles.txt")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        assertEquals(4, Files.readAllLines(out.resolve("aug_angles.txt")).size());
    }

    @Test
    void aMissingDataFolderIsOneLineNamingItAndWritesNothing(@TempDir Path tmp) {
        Path missing = tmp.resolve("no-such-folder");
        Path out = tmp.resolve("out");
        assertUserError(dump("--data", missing.toString(), "--out", out.toString()), missing.toString(), "--data");
        assertFalse(Files.exists(out), "no output folder for a run that cannot start");
    }

    @Test
    void aDataFolderWithoutAClassSubfolderIsOneLineNamingTheSubfolder(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        png(data.resolve("NORMAL"), "a.png", 20, 20, 10, 0, 200);
        assertUserError(dump("--data", data.toString(), "--out", tmp.resolve("out").toString()), data.toString(), "PNEUMONIA/", "--data");
    }

    @Test
    void anUnknownOptionIsOneLineNamingIt(@TempDir Path tmp) {
        assertUserError(dump("--per-clas", "3", "--out", tmp.resolve("out").toString()), "--per-clas");
    }

    @Test
    void aNonNumericNumberIsOneLineNamingTheOptionAndTheValue(@TempDir Path tmp) {
        assertUserError(dump("--per-class", "ten", "--out", tmp.resolve("out").toString()), "--per-class", "ten");
        assertUserError(dump("--crop-min", "0,7", "--out", tmp.resolve("out").toString()), "--crop-min", "0,7");
        assertUserError(dump("--seed", "7.5", "--out", tmp.resolve("out").toString()), "--seed", "7.5");
    }

    @Test
    void aMissingValueOrANumberOutOfRangeIsOneLineNamingTheOption(@TempDir Path tmp) throws Exception {
        assertUserError(dump("--out", tmp.resolve("out").toString(), "--aug"), "--aug");
        Path data = tinyData(tmp);
        assertUserError(dump("--data", data.toString(), "--aug", "0", "--out", tmp.resolve("out").toString()), "--aug", "0");
        assertUserError(dump("--data", data.toString(), "--crop-min", "1.5", "--out", tmp.resolve("out").toString()), "--crop-min", "1.5");
        assertUserError(dump("--data", data.toString(), "--resampling", "cubic", "--out", tmp.resolve("out").toString()), "--resampling", "cubic");
        assertUserError(dump("--data", data.toString(), "--resize-ratio", "0.9", "--out", tmp.resolve("out").toString()), "--resize-ratio", "0.9");
    }

    @Test
    void filesOfDifferentSizesAreOneLineNamingThem(@TempDir Path tmp) throws Exception {
        Path data = tinyData(tmp);
        Path odd = png(data.resolve("PNEUMONIA"), "c.png", 30, 20, 20, 100, 100); // 20 wide, 30 high
        assertUserError(dump("--data", data.toString(), "--per-class", "1", "--out", tmp.resolve("out").toString()), odd.toString(), "20x30");
    }

    @Test
    void anOutputPathThatIsAFileIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        Path data = tinyData(tmp);
        Path file = Files.writeString(tmp.resolve("taken"), "x");
        assertUserError(dump("--data", data.toString(), "--per-class", "1", "--out", file.toString()), file.toString(), "--out");
    }
}

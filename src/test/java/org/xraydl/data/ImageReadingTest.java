package org.xraydl.data;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 12: images that used to be read wrongly without a word. */
class ImageReadingTest {

    @Test
    void a16BitPngGivesTheSameTensorAndPredictionAsIts8BitCopy(@TempDir Path dir) throws Exception {
        int w = 40;
        int h = 36;
        BufferedImage eight = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        BufferedImage sixteen = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
        Random r = new Random(3);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int v = r.nextInt(256);
                eight.getRaster().setSample(x, y, 0, v);
                sixteen.getRaster().setSample(x, y, 0, v * 257); // 0..255 -> 0..65535 exactly
            }
        }
        Path p8 = dir.resolve("NORMAL/eight.png");
        Path p16 = dir.resolve("NORMAL/sixteen.png");
        Files.createDirectories(p8.getParent());
        assertTrue(ImageIO.write(eight, "png", p8.toFile()));
        assertTrue(ImageIO.write(sixteen, "png", p16.toFile()));
        assertEquals(16, ImageIO.read(p16.toFile()).getColorModel().getComponentSize(0), "the test file really is 16-bit");

        RunConfig c = TestData.tinyConfig(Map.of());
        Preprocessing pre = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        DataSetIterator it = ImageIterators.evaluation(List.of(new LabeledImage(p8, "NORMAL", "a"),
                new LabeledImage(p16, "NORMAL", "b")), pre, 2);
        INDArray features = it.next().getFeatures();
        assertEquals(features.slice(0), features.slice(1));

        Predictor predictor = new Predictor(new ModelBundle(ModelFactory.create(c, 2, null), pre, c, Map.of()));
        Predictor.Answer a8 = predictor.predict(p8);
        Predictor.Answer a16 = predictor.predict(p16);
        assertTrue(a8.ok() && a16.ok(), a8.error() + " / " + a16.error());
        assertEquals(a8.probabilities(), a16.probabilities());
    }

    @Test
    void truncatedJpegAndPngAreReportedAndCountedWithSkipBad(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 3, "NORMAL", "PNEUMONIA");
        Path jpeg;
        try (var files = Files.list(dir.resolve("NORMAL"))) {
            jpeg = files.sorted().findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(jpeg);
        assertNull(ImageChecks.problem(jpeg), "a complete JPEG");
        Path padded = Files.write(dir.resolve("padded.jpeg"), Arrays.copyOf(bytes, bytes.length + 300));
        assertNull(ImageChecks.problem(padded), "trailing zero padding after FFD9 is fine");
        Files.write(jpeg, Arrays.copyOf(bytes, bytes.length / 2));
        assertEquals("truncated JPEG (no end-of-image marker FFD9)", ImageChecks.problem(jpeg));

        BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_BYTE_GRAY);
        Path png = dir.resolve("PNEUMONIA/cut.png");
        ImageIO.write(img, "png", png.toFile());
        assertNull(ImageChecks.problem(png));
        byte[] pngBytes = Files.readAllBytes(png);
        Files.write(png, Arrays.copyOf(pngBytes, pngBytes.length - 12)); // without the IEND chunk
        assertEquals("truncated PNG (no IEND chunk)", ImageChecks.problem(png));

        UserError e = assertThrows(UserError.class, () -> ImageFolderScanner.scan(dir, null, false, 0));
        assertTrue(e.getMessage().contains(jpeg.getFileName().toString()) || e.getMessage().contains(png.getFileName().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        ImageFolder skipped = ImageFolderScanner.scan(dir, null, true, 0);
        assertEquals(2, skipped.skipped().size());
        assertEquals(5, skipped.images().size());
    }

    @Test
    void aFileWithoutReadPermissionIsReportedAsSuch(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 1, "NORMAL");
        Path f;
        try (var files = Files.list(dir.resolve("NORMAL"))) {
            f = files.findFirst().orElseThrow();
        }
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("---------"));
        try {
            Assumptions.assumeFalse(Files.isReadable(f), "running as root: the file stays readable");
            assertEquals("cannot read the file (permission denied)", ImageChecks.problem(f));
        } finally {
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        }
    }

    @Test
    void unsupportedExtensionsAreCountedTheSameWayForTrainEvaluateAndPredict(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 2, "NORMAL", "PNEUMONIA");
        Files.writeString(dir.resolve("NORMAL/scan.gif"), "GIF89a");
        Files.writeString(dir.resolve("NORMAL/scan.tif"), "II*");
        Files.writeString(dir.resolve("PNEUMONIA/notes.txt"), "x");
        Files.writeString(dir.resolve("PNEUMONIA/.DS_Store"), "x");

        ImageFolder folder = ImageFolderScanner.scan(dir, null, false, 0);
        assertEquals(4, folder.images().size());
        assertEquals(3, folder.unsupported().size());
        assertEquals("3 file(s) with an unsupported extension (.gif: 1, .tif: 1, .txt: 1) left out under " + folder.root()
                + "; supported: .bmp/.jpeg/.jpg/.png", ImageFolderScanner.unsupportedSummary(folder.unsupported(), folder.root()));

        assertEquals(4, Predictor.expand(List.of(dir)).size(), "predict takes the same files from a folder");
        RunConfig c = TestData.tinyConfig(Map.of());
        Preprocessing pre = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        Predictor.Answer tif = new Predictor(new ModelBundle(ModelFactory.create(c, 2, null), pre, c, Map.of()))
                .predict(dir.resolve("NORMAL/scan.tif"));
        assertEquals("unsupported file type (supported: .bmp/.jpeg/.jpg/.png)", tif.error());
    }
}

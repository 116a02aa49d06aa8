package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.UserError;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderScannerTest {

    @Test
    void plainLayoutWithMixedCaseClassFoldersGivesSortedUpperCaseLabels(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 3, "normal", "Pneumonia");
        ImageFolder f = ImageFolderScanner.scan(dir, "train", false, 0);
        assertEquals(List.of("NORMAL", "PNEUMONIA"), f.labels());
        assertEquals(6, f.images().size());
        assertTrue(f.skipped().isEmpty());
    }

    @Test
    void kaggleLayoutPicksTheRequestedSplit(@TempDir Path dir) throws Exception {
        Path kaggle = dir.resolve("chest_xray");
        TestData.copySample(kaggle.resolve("train"), 4, "NORMAL", "PNEUMONIA");
        TestData.copySample(kaggle.resolve("test"), 2, "NORMAL", "PNEUMONIA");
        TestData.copySample(kaggle.resolve("val"), 1, "NORMAL", "PNEUMONIA");
        assertEquals(8, ImageFolderScanner.scan(dir, "train", false, 0).images().size());
        assertEquals(4, ImageFolderScanner.scan(dir, "test", false, 0).images().size());
        assertEquals(kaggle.resolve("test").toAbsolutePath(), ImageFolderScanner.scan(dir, "test", false, 0).root());
    }

    @Test
    void missingEmptyAndOneClassFoldersAreRefusedWithTheFolderNamed(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope");
        assertMessage(missing, "data folder not found: " + missing);
        Path empty = Files.createDirectories(dir.resolve("empty/NORMAL"));
        assertMessage(empty.getParent(), "no images found under");
        Path one = dir.resolve("one");
        TestData.copySample(one, 2, "NORMAL");
        assertMessage(one, "only one class (NORMAL)");
    }

    @Test
    void zeroByteAndUndecodableImagesAreRefusedBeforeTrainingOrSkippedAndCounted(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 3, "NORMAL", "PNEUMONIA");
        Path zero = Files.createFile(dir.resolve("NORMAL/zero.jpeg"));
        Path garbage = Files.writeString(dir.resolve("PNEUMONIA/garbage.jpeg"), "this is not a JPEG");
        UserError e = assertThrows(UserError.class, () -> ImageFolderScanner.scan(dir, "train", false, 0));
        assertTrue(e.getMessage().contains(zero.toString()) || e.getMessage().contains(garbage.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("--skip-bad"), e.getMessage());
        assertTrue(e.getMessage().contains("1 more"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        ImageFolder skipped = ImageFolderScanner.scan(dir, "train", true, 0);
        assertEquals(6, skipped.images().size());
        assertEquals(2, skipped.skipped().size());
    }

    @Test
    void nonImageFilesAreIgnoredAndMaxPerClassCaps(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 5, "NORMAL", "PNEUMONIA");
        Files.writeString(dir.resolve("NORMAL/notes.txt"), "not an image");
        Files.writeString(dir.resolve("NORMAL/.DS_Store"), "junk");
        assertEquals(10, ImageFolderScanner.scan(dir, "train", false, 0).images().size());
        assertEquals(4, ImageFolderScanner.scan(dir, "train", false, 2).images().size());
    }

    private static void assertMessage(Path dir, String expected) {
        UserError e = assertThrows(UserError.class, () -> ImageFolderScanner.scan(dir, "train", false, 0));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}

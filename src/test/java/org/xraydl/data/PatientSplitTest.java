package org.xraydl.data;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.xraydl.TestData;

import java.nio.file.Files;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PatientSplitTest {

    @Test
    void sampleSplitKeepsEveryPatientOnOneSideAndBothClassesOnEach() {
        ImageFolder folder = ImageFolderScanner.scan(TestData.sample(), "train", false, 0);
        PatientSplit.Split s = PatientSplit.split(folder.images(), 0.15, 42);
        assertNoSharedPatients(s);
        assertEquals(folder.images().size(), s.train().size() + s.validation().size());
        Map<String, Integer> val = ImageFolder.countPerLabel(s.validation());
        assertEquals(Set.of("NORMAL", "PNEUMONIA"), val.keySet());
    }

    @Test
    void splitIsStratifiedSeededAndNearTheRequestedFraction() {
        ImageFolder folder = ImageFolderScanner.scan(TestData.sample(), "train", false, 0);
        PatientSplit.Split a = PatientSplit.split(folder.images(), 0.2, 7);
        PatientSplit.Split b = PatientSplit.split(folder.images(), 0.2, 7);
        PatientSplit.Split c = PatientSplit.split(folder.images(), 0.2, 8);
        assertEquals(files(a.validation()), files(b.validation()), "same seed, same split");
        assertNotEquals(files(a.validation()), files(c.validation()), "another seed, another split");
        for (String label : folder.labels()) {
            long total = folder.images().stream().filter(i -> i.label().equals(label)).count();
            long val = a.validation().stream().filter(i -> i.label().equals(label)).count();
            double fraction = val / (double) total;
            assertTrue(fraction > 0.1 && fraction < 0.3, label + " validation fraction " + fraction);
        }
    }

    @Test
    void fullSharedTrainingSplitHasNoPatientOnBothSides() {
        Assumptions.assumeTrue(Files.isDirectory(TestData.sharedTrain()), "shared data set not on this machine");
        List<LabeledImage> images = ImageFolderScanner.scan(TestData.sharedTrain(), "train", false, 0).images();
        assertEquals(5216, images.size());
        PatientSplit.Split s = PatientSplit.split(images, 0.15, 42);
        assertNoSharedPatients(s);
        // Grouping matters here: bacterial series have several images per patient.
        assertTrue(s.train().stream().map(LabeledImage::patientId).distinct().count() < s.train().size());
    }

    private static void assertNoSharedPatients(PatientSplit.Split s) {
        Set<String> train = new HashSet<>();
        s.train().forEach(i -> train.add(i.patientId()));
        List<String> both = s.validation().stream().map(LabeledImage::patientId).filter(train::contains).distinct().toList();
        assertTrue(both.isEmpty(), "patients on both sides: " + both);
        assertTrue(PatientSplit.sharedPatients(s).isEmpty());
    }

    private static Set<String> files(List<LabeledImage> images) {
        Set<String> s = new HashSet<>();
        images.forEach(i -> s.add(i.file().getFileName().toString()));
        return s;
    }
}

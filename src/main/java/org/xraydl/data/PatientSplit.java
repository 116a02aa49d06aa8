package org.xraydl.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Train / validation split that is stratified by class, seeded, and grouped by patient: all
 * images of one patient land on the same side, so validation never sees a patient that
 * training saw.
 */
public final class PatientSplit {

    public record Split(List<LabeledImage> train, List<LabeledImage> validation) {
    }

    private PatientSplit() {
    }

    public static Split split(List<LabeledImage> images, double valFraction, long seed) {
        // A patient's class is the majority label of its images (they are single-class in practice).
        Map<String, List<LabeledImage>> byPatient = new TreeMap<>();
        for (LabeledImage i : images) {
            byPatient.computeIfAbsent(i.patientId(), k -> new ArrayList<>()).add(i);
        }
        Map<String, List<String>> patientsByLabel = new TreeMap<>();
        for (Map.Entry<String, List<LabeledImage>> e : byPatient.entrySet()) {
            patientsByLabel.computeIfAbsent(majorityLabel(e.getValue()), k -> new ArrayList<>()).add(e.getKey());
        }
        List<LabeledImage> train = new ArrayList<>();
        List<LabeledImage> val = new ArrayList<>();
        Random random = new Random(seed);
        for (Map.Entry<String, List<String>> e : patientsByLabel.entrySet()) {
            List<String> patients = e.getValue();
            Collections.shuffle(patients, random);
            int classImages = patients.stream().mapToInt(p -> byPatient.get(p).size()).sum();
            long target = Math.max(1, Math.round(classImages * valFraction));
            int taken = 0;
            for (String p : patients) {
                // Keep at least one patient of every class in training.
                boolean lastPatient = p.equals(patients.get(patients.size() - 1));
                if (taken < target && !lastPatient) {
                    val.addAll(byPatient.get(p));
                    taken += byPatient.get(p).size();
                } else {
                    train.addAll(byPatient.get(p));
                }
            }
        }
        return new Split(List.copyOf(train), List.copyOf(val));
    }

    private static String majorityLabel(List<LabeledImage> images) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (LabeledImage i : images) {
            counts.merge(i.label(), 1, Integer::sum);
        }
        return Collections.max(counts.entrySet(), Map.Entry.comparingByValue()).getKey();
    }

    /** Patients present on both sides; empty for a correct split. */
    public static List<String> sharedPatients(Split s) {
        Map<String, Boolean> inTrain = new HashMap<>();
        s.train().forEach(i -> inTrain.put(i.patientId(), true));
        return s.validation().stream().map(LabeledImage::patientId).filter(inTrain::containsKey).distinct().toList();
    }
}

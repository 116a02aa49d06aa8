package org.xraydl.data;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The result of scanning a data folder: the class folder root actually used, the sorted
 * labels, the readable images, the files that were skipped as unreadable, and the files left out
 * for an unsupported extension.
 */
public record ImageFolder(Path root, List<String> labels, List<LabeledImage> images, List<Path> skipped,
                          List<Path> unsupported) {

    public Map<String, Integer> countsPerLabel() {
        return countPerLabel(images);
    }

    public static Map<String, Integer> countPerLabel(List<LabeledImage> images) {
        Map<String, Integer> counts = new TreeMap<>();
        for (LabeledImage i : images) {
            counts.merge(i.label(), 1, Integer::sum);
        }
        return counts;
    }
}

package org.xraydl.data;

import org.xraydl.UserError;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * The class labels of the project, defined once: their order (the model's output order) and the
 * positive class that sensitivity, precision, ROC and AUC are about.
 *
 * <p>The rule for the positive class has no fallback: a label list without {@value #POSITIVE} is
 * refused with a {@link UserError} (a two-class data set whose folders are named otherwise would
 * otherwise get its metrics computed for whichever class happened to sort last).
 */
public final class ClassLabels {
    /** The positive class. */
    public static final String POSITIVE = "PNEUMONIA";

    private ClassLabels() {
    }

    /** The label of a class folder: its name upper-cased, so {@code Normal/} and {@code NORMAL/} are one class. */
    public static String ofFolder(String folderName) {
        return folderName.toUpperCase(Locale.ROOT);
    }

    /** Labels in the model's output order: distinct and sorted. */
    public static List<String> ordered(Collection<String> labels) {
        return List.copyOf(new TreeSet<>(labels));
    }

    /** The index of {@value #POSITIVE} in {@code labels}. */
    public static int positiveIndex(List<String> labels) {
        return indexOf(labels, POSITIVE);
    }

    /**
     * The index of {@code positive} in {@code labels}.
     *
     * @throws UserError if {@code labels} does not hold it
     */
    public static int indexOf(List<String> labels, String positive) {
        int i = labels.indexOf(positive);
        if (i < 0) {
            throw new UserError("the classes " + labels + " have no " + positive + " class, the positive class of every metric:"
                    + " name the folder of the pneumonia images " + positive + "/");
        }
        return i;
    }

    /**
     * Checks that {@code labels}, found under {@code where}, are the two classes of a binary
     * diagnosis with {@value #POSITIVE} among them.
     *
     * @throws UserError naming {@code where} otherwise
     */
    public static void requireBinary(List<String> labels, Object where) {
        if (labels.size() != 2 || !labels.contains(POSITIVE)) {
            throw new UserError("expected two class folders, one of them " + POSITIVE + "/ (e.g. NORMAL/ and " + POSITIVE
                    + "/), under " + where + ", found " + labels);
        }
    }
}

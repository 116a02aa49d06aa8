package org.xraydl.spark;

import java.io.Serializable;

/**
 * One training minibatch as it travels to an executor: image file URIs and their labels, never
 * pixels. The driver cuts the epoch's shuffled file list into these; executors decode them.
 * A plain class (not a record) so both Java serialization and Spark's Kryo handle it.
 */
public class PathBatch implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Position of the batch in the epoch; seeds its augmentation, whatever executor decodes it. */
    int index;
    String[] uris;
    String[] labels;

    public PathBatch() {
    }

    PathBatch(int index, String[] uris, String[] labels) {
        this.index = index;
        this.uris = uris;
        this.labels = labels;
    }

    public int size() {
        return uris.length;
    }
}

package org.xraydl.data;

import org.datavec.api.io.labels.ParentPathLabelGenerator;
import org.datavec.api.writable.Text;
import org.datavec.api.writable.Writable;

import java.net.URI;

/**
 * DataVec's ParentPathLabelGenerator with the folder name upper-cased, so {@code normal/},
 * {@code Normal/} and {@code NORMAL/} are one class. Labels are fixed by the caller ({@link ClassLabels#ordered}, saved
 * with the model) instead of being inferred per reader, so a subset missing a class keeps the
 * same label indices: the reader infers its own (unordered) set in {@code initialize()}, so
 * {@link ImageIterators} overwrites it with the saved labels right after.
 */
public class UpperCaseParentPathLabelGenerator extends ParentPathLabelGenerator {

    @Override
    public Writable getLabelForPath(String path) {
        return new Text(ClassLabels.ofFolder(super.getLabelForPath(path).toString()));
    }

    @Override
    public Writable getLabelForPath(URI uri) {
        return getLabelForPath(new java.io.File(uri).toString());
    }
}

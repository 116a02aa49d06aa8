package org.xraydl.data;

import java.nio.file.Path;

/** One image file, its class label (upper case) and the patient it belongs to. */
public record LabeledImage(Path file, String label, String patientId) {
}

package org.xraydl.data;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Patient keys from the chest-xray file names. The bacteria and virus images use separately
 * numbered personN series, so the key is series + number; IM-NNNN and NORMAL2-IM-NNNN are
 * patients of the NORMAL class. Unknown names are their own patient (the file stem).
 */
public final class PatientIds {
    private static final Pattern PERSON = Pattern.compile("(?i)^person(\\d+)_(bacteria|virus)_\\d+");
    private static final Pattern NORMAL2 = Pattern.compile("(?i)^NORMAL2-IM-(\\d+)-");
    private static final Pattern IM = Pattern.compile("(?i)^IM-(\\d+)-");

    private PatientIds() {
    }

    public static String of(String fileName) {
        Matcher m = PERSON.matcher(fileName);
        if (m.find()) {
            return m.group(2).toLowerCase() + "-" + Integer.parseInt(m.group(1));
        }
        m = NORMAL2.matcher(fileName);
        if (m.find()) {
            return "NORMAL2-IM-" + Integer.parseInt(m.group(1));
        }
        m = IM.matcher(fileName);
        if (m.find()) {
            return "IM-" + Integer.parseInt(m.group(1));
        }
        int dot = fileName.lastIndexOf('.');
        return "file-" + (dot > 0 ? fileName.substring(0, dot) : fileName);
    }
}

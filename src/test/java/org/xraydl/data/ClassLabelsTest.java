package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.xraydl.UserError;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClassLabelsTest {

    @Test
    void folderNamesBecomeUpperCaseLabelsInSortedOrder() {
        assertEquals("PNEUMONIA", ClassLabels.ofFolder("Pneumonia"));
        assertEquals("NORMAL", ClassLabels.ofFolder("normal"));
        assertEquals(List.of("NORMAL", "PNEUMONIA"), ClassLabels.ordered(Set.of("PNEUMONIA", "NORMAL")));
        assertEquals(List.of("COVID", "NORMAL", "PNEUMONIA"), ClassLabels.ordered(List.of("PNEUMONIA", "NORMAL", "COVID", "NORMAL")));
    }

    @Test
    void thePositiveIndexIsWherePneumoniaSortsNotAlwaysTheLastLabel() {
        assertEquals("PNEUMONIA", ClassLabels.POSITIVE);
        assertEquals(1, ClassLabels.positiveIndex(List.of("NORMAL", "PNEUMONIA")));
        assertEquals(0, ClassLabels.positiveIndex(List.of("PNEUMONIA", "VIRAL")));
        assertEquals(2, ClassLabels.indexOf(List.of("A", "B", "C"), "C"));
    }

    @Test
    void labelsWithoutPneumoniaAreRefusedInOneLineNamingThem() {
        UserError e = assertThrows(UserError.class, () -> ClassLabels.positiveIndex(List.of("NORMAL", "VIRAL")));
        assertTrue(e.getMessage().contains("[NORMAL, VIRAL]") && e.getMessage().contains("PNEUMONIA/"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        // Case matters: labels are upper-cased folder names, so a lower-case label is a different class.
        assertThrows(UserError.class, () -> ClassLabels.positiveIndex(List.of("normal", "pneumonia")));
    }

    @Test
    void aBinaryDataSetHasExactlyTwoClassesOneOfThemPneumonia() {
        assertDoesNotThrow(() -> ClassLabels.requireBinary(List.of("NORMAL", "PNEUMONIA"), "data/x"));
        assertDoesNotThrow(() -> ClassLabels.requireBinary(List.of("PNEUMONIA", "VIRAL"), "data/x"));
        UserError noPositive = assertThrows(UserError.class, () -> ClassLabels.requireBinary(List.of("NORMAL", "VIRAL"), "data/x"));
        assertTrue(noPositive.getMessage().contains("data/x") && noPositive.getMessage().contains("[NORMAL, VIRAL]"), noPositive.getMessage());
        UserError three = assertThrows(UserError.class,
                () -> ClassLabels.requireBinary(List.of("COVID", "NORMAL", "PNEUMONIA"), "data/y"));
        assertTrue(three.getMessage().contains("[COVID, NORMAL, PNEUMONIA]"), three.getMessage());
        assertThrows(UserError.class, () -> ClassLabels.requireBinary(List.of("PNEUMONIA"), "data/z"));
    }
}

package org.xraydl.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class PatientIdsTest {

    @Test
    void bacterialAndViralSeriesOfOnePersonAreDifferentPatients() {
        assertEquals(PatientIds.of("person1_bacteria_1.jpeg"), PatientIds.of("person1_bacteria_2.jpeg"));
        assertNotEquals(PatientIds.of("person1_bacteria_1.jpeg"), PatientIds.of("person1_virus_6.jpeg"));
        assertNotEquals(PatientIds.of("person1_bacteria_1.jpeg"), PatientIds.of("person10_bacteria_1.jpeg"));
    }

    @Test
    void normalFilesGroupByImNumberAndNormal2IsItsOwnSeries() {
        assertEquals(PatientIds.of("IM-0115-0001.jpeg"), PatientIds.of("IM-0115-0002.jpeg"));
        assertNotEquals(PatientIds.of("IM-0115-0001.jpeg"), PatientIds.of("IM-0117-0001.jpeg"));
        assertEquals(PatientIds.of("NORMAL2-IM-0130-0001.jpeg"), PatientIds.of("NORMAL2-IM-0130-0002.jpeg"));
        assertNotEquals(PatientIds.of("NORMAL2-IM-0130-0001.jpeg"), PatientIds.of("IM-0130-0001.jpeg"));
    }

    @Test
    void unknownNamesFallBackToTheirOwnStem() {
        assertNotEquals(PatientIds.of("scan_a.png"), PatientIds.of("scan_b.png"));
        assertEquals(PatientIds.of("scan_a.png"), PatientIds.of("scan_a.png"));
    }
}

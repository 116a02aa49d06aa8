package org.xraydl.data;

import org.datavec.api.split.CollectionInputSplit;

import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/** A CollectionInputSplit whose order is reshuffled (seeded) at every reset, i.e. every epoch. */
public class ShuffledCollectionSplit extends CollectionInputSplit {
    private final Random random;

    public ShuffledCollectionSplit(Collection<URI> uris, long seed) {
        super(uris);
        this.random = new Random(seed);
        reshuffle();
    }

    @Override
    public void reset() {
        reshuffle();
    }

    /** The files in the current order, as a reader of this split visits them (DataVec's own iterator). */
    public List<URI> currentOrder() {
        List<URI> out = new ArrayList<>(uriStrings.size());
        for (Iterator<URI> it = locationsIterator(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    private void reshuffle() {
        int n = uriStrings.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        iterationOrder = order;
    }
}

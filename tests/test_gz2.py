from galaxyutils import gz2


def test_tree_has_11_questions_and_37_answers_with_valid_links():
    tree = gz2.decision_tree()
    assert len(tree) == 11
    assert len(gz2.answers()) == 37
    assert all(a.next is None or a.next in tree for a in gz2.answers())
    # Every question but the first is reached from some answer.
    reached = {a.next for a in gz2.answers() if a.next}
    assert reached == set(tree) - {"t01"}


def test_column_names_match_the_published_catalogue_header():
    assert gz2.answer("t01", "a01").column() == "t01_smooth_or_features_a01_smooth_weighted_fraction"
    assert gz2.answer("t08", "a38").column("debiased") == "t08_odd_feature_a38_dust_lane_debiased"
    assert gz2.answer("t11", "a36").stem == "t11_arms_number_a36_more_than_4"


def test_coarse_classes_from_gz2_class_strings():
    cases = {"Ei": "smooth", "Er(m)": "smooth", "Ser": "edge_on", "SBc2m": "barred_disc", "Sc?t": "unbarred_disc", "A": "artifact", "": None}
    assert {s: gz2.coarse_class(s) for s in cases} == cases
    assert gz2.modifiers("Sc(m)") == ["merger"] and gz2.modifiers("Ei") == []

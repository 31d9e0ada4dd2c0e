from lifecycle.students import initials, student_ref


def test_initials_keep_the_first_letter_of_each_name() -> None:
    assert initials("ana maría", "de la Cruz") == "A.D."
    assert initials("Cher", "") == "C."
    assert initials(" ", "") == ""


def test_student_ref_is_initials_and_id() -> None:
    assert student_ref(initials("Jane", "Doe"), 1042) == "J.D. #1042"
    assert student_ref("", 5) == "? #5"
    assert student_ref(None, "77") == "? #77"

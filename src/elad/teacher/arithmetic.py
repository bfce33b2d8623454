"""Checking the arithmetic of explanation steps, the way a careful grader would.

Every equation a step writes, as a calculator mark `<<48/2=24>>` (GSM8K's rationales) or
as plain text `48 / 2 = $24`, is checked twice: the result must be the value of the
expression (rounded to the digits the step wrote, up or down), and every operand must be
a number the solver may use: one from the question (digits, number words such as
"twice" or "dozen", percentages also as fractions), one stated or computed earlier in the
explanation (earlier steps, or earlier in the same step), or a common constant (units of
time, 100 for percentages, 1000, small counts). A step that fails either check is wrong.

Only equations are checked: a step with none cannot be found wrong here. An equation that
cannot be read as arithmetic in plain text is not checked, but the numbers it states stay
known to later steps.

`target_is_coherent` says whether a number answer's steps lead to it: what a loop trains
on must not compute one number and answer another.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

# thousands may be set off by spaces ("$350 000"): read so where every group has three
# digits and no hyphen follows ("12 200-kilobyte videos" is 12 videos of 200 kilobytes);
# numbers_in also reads the groups on their own
_SPACED = r"\d{1,3}(?: \d{3})+(?:\.\d+)?(?![\d-]|[.,]\d)"
_DIGITS = r"(?:\d[\d,]*(?:\.\d+)?|\.\d+)"
_NUMBER = rf"(?:{_SPACED}|{_DIGITS})"
# spaces inside an operand only next to its parentheses, so that every space has one
# place in a match: no exponential search on a long chain that is not an equation
_OPERAND = rf"(?:\(\s*)*\$?{_NUMBER}%?(?:\s*\))*"
_OPERATOR = r"[-+*/x×÷–−]"
_SIDE = rf"(?:\$\s*)?{_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND})*"
# A plain-text equation or chain ("2 * 23 - 4 = 46 - 4 = 42"): its left side an operation,
# units may follow the last side. Not one whose left side goes on further left ("60
# students x 2/3 = 40", "1 1/2 = 1.5", "2(50+70) = 240"), nor one whose last number runs
# into a word ("100/5 = 5A/5"): those cannot be read.
PLAIN_EQUATION = re.compile(
    rf"(?<![\w.,/*+×÷–−()-])(?<![-+*/x×÷–−\d)(] )"
    rf"({_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND})+(?:\s*=\s*{_SIDE})+)(?!\w|\.\d|/\d)")
MARK = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
_NUMBER_IN_TEXT = re.compile(rf"{_NUMBER}")
_DIGITS_IN_TEXT = re.compile(_DIGITS)
# each starts where a number starts (not inside a run of digits: no quadratic search)
_FRACTION = re.compile(r"(?:(?<![\d.])(\d+)(?:\s+|\s+and\s+))?(?<![\d.])(\d+)/(\d+)")
_AND_A_PART = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?|[a-z]+) and (?:a|one) (half|third|quarter)\b")
_UNIT = re.compile(r"[^\W\d_]+")  # a word: a unit ("kg", "hours") unless it is "x"
_MAX_DECIMALS = 12  # beyond this, written decimals do not change the comparison

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "million": 1_000_000, "dozen": 12, "once": 1, "twice": 2,
    "thrice": 3, "double": 2, "triple": 3, "quadruple": 4, "half": 2, "third": 3,
    "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "tenth": 10, "pair": 2, "couple": 2,
}
# numbers anyone may bring: small counts; units of time, money and measure; percent
_WHOLE = (*range(11), 12, 14, 16, 20, 24, 25, 28, 30, 31, 36, 50, 52, 60, 100, 128, 365,
          1000, 3600, 5280)
CONSTANTS = frozenset({*_WHOLE, *(1 / n for n in _WHOLE if n)})  # 1/n: .5, .25, .01, ...


class NotArithmetic(ValueError):
    """An expression that is not plain arithmetic on numbers."""


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv}


def _plain(expression: str) -> str:
    """An expression as Python reads it: `x`, `×`, `÷` and dashes as operators; no `$`,
    no units ("2kg", "10 hours"), no thousands separators (`,` or a space: "350 000")."""
    text = " ".join(expression.split())
    text = _UNIT.sub(lambda m: m.group() if m.group() in ("x", "X") else " ", text)
    text = re.sub(_SPACED, lambda m: m.group().replace(" ", ""), text)
    return (text.replace(",", "").replace("$", "").replace("×", "*").replace("÷", "/")
            .replace("x", "*").replace("X", "*").replace("–", "-").replace("−", "-"))


def evaluate(expression: str) -> float:
    """The value of + - * / // ( ) on numbers; `x`, `×`, `÷`, `$`, `,`, `%` and units as
    written by people (`20%` is 0.2, `$350 000` is 350000, `10kg` is 10). Anything else,
    and numbers too large for a float, is NotArithmetic."""
    text = re.sub(r"(?<![\d.])(\d+(?:\.\d+)?|\.\d+)\s*%", r"(\1/100)", _plain(expression))
    # a fraction written tight is one number: "25 / 1/3" is 25 divided by a third
    text = re.sub(r"(?<![\d.])(\d+)/(\d+)(?![\d.])", r"(\1/\2)", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):  # also >4300 digits, deep nesting
        raise NotArithmetic(expression) from None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return value(node.operand)  # GSM8K writes "<<+30+46=76>>"
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        raise NotArithmetic(expression)

    try:
        return value(tree.body)
    except (ZeroDivisionError, OverflowError, RecursionError):
        raise NotArithmetic(expression) from None


def same(a: float, b: float) -> bool:
    """Equal up to float error; a number too large for a float (inf) equals nothing."""
    return math.isfinite(a - b) and abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def result_matches(value: float, written: str) -> bool:
    """Whether the number `written` is `value`, rounded (half, down or up) to the
    decimals written (at most 12: "0.00681818..." with hundreds of digits is compared as
    far as a float can tell); a percentage may stand for its fraction ("100% - 40% =
    60%")."""
    plain = _plain(written).replace("%", "").strip()
    results = {evaluate(written), evaluate(plain)}
    decimals = len(plain.split(".")[1]) if re.fullmatch(r"-?\d*\.\d+", plain) else 0
    scale = 10 ** min(decimals, _MAX_DECIMALS)
    values = [v for v in (value, value * 100) if math.isfinite(v * scale)]
    return any(same(result, f(v * scale) / scale) for result in results
               for v in values for f in (float, round, math.floor, math.ceil))


_WORD_NUMBER = re.compile(r"[a-z]+(?:[- ][a-z]+)*")


def _word_values(text: str) -> set[float]:
    """Numbers written in words: "forty-five", "nine hundred", "twice", "a third"."""
    found = set()
    for phrase in _WORD_NUMBER.findall(text.lower()):
        total = current = 0
        for word in re.split(r"[- ]", phrase) + [""]:
            word = word[:-1] if word.endswith("s") and word[:-1] in NUMBER_WORDS else word
            value = NUMBER_WORDS.get(word)
            if value is None or (value in (100, 1000, 1_000_000) and not current):
                if current or total:
                    found.add(float(total + current))
                total = current = 0
                if value:  # "hundred" on its own
                    found.add(float(value))
                continue
            found.update((float(value), 1 / value) if value else (0.0,))
            if value in (100, 1000, 1_000_000):
                total, current = total + current * value, 0
            else:
                current += value
    return found


def number_value(number: str) -> float:
    """The value of a number as `_NUMBER` finds it ("1,200", "350 000", ".5")."""
    return float(number.replace(",", "").replace(" ", ""))


def numbers_in(text: str) -> set[float]:
    """Every number a text states: digits (1,200 and .5 too; 350 000 also as one number),
    negative numbers also as such ("-3 degrees"), fractions and mixed numbers also as
    their values ("three and a half" too), percentages also as fractions, and numbers in
    words (a word like "half" also as its fraction)."""
    found = _word_values(text)
    for pattern in (_NUMBER_IN_TEXT, _DIGITS_IN_TEXT):
        for match in pattern.finditer(text):
            value = number_value(match.group())
            found.add(value)
            if text[match.end():match.end() + 1] == "%":
                found.add(value / 100)
            sign = text[max(match.start() - 2, 0):match.start()]
            if sign[-1:] in ("-", "−", "–") and (len(sign) < 2 or sign[0] in " \n\t("):
                found.add(-value)
    for whole, top, bottom in _FRACTION.findall(text):
        if len(whole + top + bottom) < 100 and int(bottom):
            found.add(int(whole or 0) + int(top) / int(bottom))
    for whole, part in _AND_A_PART.findall(text.lower()):
        value = NUMBER_WORDS.get(whole) if whole.isalpha() else float(whole)
        if value is not None:
            found.add(value + 1 / NUMBER_WORDS[part])
    return found


def usable(number: float, known: set[float]) -> bool:
    """A known number or constant; or one of them written another way: a percentage as
    a decimal (0.95 for 95), a change by a percentage as a factor or a percentage (1.2
    or 120 for "20% more", 85 for "15% less"), or in millions or thousands."""
    candidates = (number, number * 100, (number - 1) * 100, (1 - number) * 100,
                  number - 100, 100 - number, number / 1000, number / 1_000_000)
    return any(same(c, k) for c in candidates for k in (*known, *CONSTANTS))


@dataclass
class Equation:
    sides: list[str]  # "48 / 2", "24": the expression, any middle sides, the result
    start: int  # where it starts in its step's text
    mark: bool  # a calculator mark <<...>> (always checked; plain text only if readable)


def _readable(equation: Equation) -> bool:
    try:
        return all(evaluate(side) is not None for side in equation.sides)
    except NotArithmetic:
        return False


def scan(step: str) -> tuple[list[Equation], str]:
    """The equations of a step in the order written, and the step's text with every
    equation blanked out. A plain-text equation that repeats a mark is kept once; one
    that cannot be read stays in the text, so that the numbers it states are known."""
    found = [Equation([*m.groups()], m.start(), True) for m in MARK.finditer(step)]
    rest = MARK.sub(lambda m: " " * len(m.group()), step)  # keeps offsets
    readable = []
    for match in PLAIN_EQUATION.finditer(rest):
        sides = re.split(r"\s*=\s*", match.group(1).strip())
        try:
            values = [evaluate(side) for side in sides]
        except NotArithmetic:
            continue  # unreadable plain text is not checked
        readable.append(match)
        repeat = any(same(values[0], evaluate(e.sides[0]))
                     and same(values[-1], evaluate(e.sides[-1]))
                     for e in found if e.mark and _readable(e))
        if not repeat:
            found.append(Equation(sides, match.start(), False))
    for match in readable:
        rest = rest[:match.start()] + " " * len(match.group()) + rest[match.end():]
    return sorted(found, key=lambda e: e.start), rest


def equation_problem(equation: Equation, known: set[float]) -> str | None:
    """Why an equation is wrong given the numbers `known` so far, or None."""
    expression, *later = [side.strip() for side in equation.sides]
    try:
        value = evaluate(expression)
        wrong = next((side for side in later if not result_matches(value, side)), None)
    except NotArithmetic:
        return f"cannot read {'='.join(equation.sides)!r} as arithmetic"
    if wrong is not None:
        return f"{expression} is not {wrong}"
    if not re.search(rf"\d%?\s*\)*\s*{_OPERATOR}", expression):
        return None  # a number stated, not an operation (GSM8K has a few "<<55=55>>")
    for number in _NUMBER_IN_TEXT.findall(expression):
        if not usable(number_value(number), known):
            return f"{number} is neither in the question nor an earlier result"
    return None


def step_problem(step: str, known: set[float]) -> str | None:
    """Why `step` is wrong given the numbers `known` so far (None if it is right);
    `known` grows by what the step states and computes."""
    found, rest = scan(step)
    position = 0
    for equation in found:
        known |= numbers_in(rest[position:equation.start])
        problem = equation_problem(equation, known)
        if problem:
            return problem
        known |= {evaluate(equation.sides[-1]), *numbers_in(equation.sides[-1])}
        position = equation.start
    known |= numbers_in(rest[position:])
    return None


def first_wrong_step(question: str, steps: list[str]) -> tuple[int, str] | None:
    """(1-based number, reason) of the first step whose arithmetic is wrong, or None."""
    known = numbers_in(question)
    for number, step in enumerate(steps, 1):
        problem = step_problem(step, known)
        if problem:
            return number, problem
    return None


def step_results(step: str) -> list[float]:
    """The results of the equations a step writes (the readable ones), in order."""
    results = []
    for equation in scan(step)[0]:
        try:
            results.append(evaluate(equation.sides[-1]))
        except NotArithmetic:
            pass
    return results


def last_computed_number(steps: list[str]) -> float | None:
    """The result of the last readable equation of the steps; None if they compute
    nothing."""
    for step in reversed(steps):
        results = step_results(step)
        if results:
            return results[-1]
    return None


def _written(value: float) -> str:
    return f"{value:.12f}".rstrip("0").rstrip(".")


def _rounded(value: float, like: float) -> float:
    """`value` rounded half up to as many decimals as `like` has (at most 12)."""
    scale = 10 ** len(_written(like).partition(".")[2])
    if not math.isfinite(value * scale):
        return value
    return math.floor(value * scale + 0.5) / scale


def same_answer(value: float, answer: float) -> bool:
    """Whether a computed number gives an answer: the same number, rounded to the
    answer's decimals (12.5 gives 13, not 12) or the answer rounded to its (a result
    written 0.33 for an answer of 1/3), or the answer in hundredths (0.25 dollars
    answered as 25 cents, 0.6 as 60 percent)."""
    return (same(_rounded(value, answer), answer) or same(_rounded(answer, value), value)
            or same(_rounded(value * 100, answer), answer))


def target_is_coherent(steps: list[str], answer: str | None) -> bool:
    """Whether a number answer's steps lead to it, so that a target does not teach steps
    that compute one number and an answer that is another.

    The steps contradict their answer when they compute something, the last number they
    compute is not the answer (`same_answer`), and their final step neither computes it
    nor states it outside its equations. The final step may state it because human
    rationales do: GSM8K's sometimes compute their last number in an earlier step and
    then say the answer ("Thus, Brad's zip code is 11026."; "Eight servings would need
    14 pints of vegetables and broth."). An operand in the final step does not count:
    "72 - 48 = 24" does not lead to 72. Steps that compute nothing, and answers that are
    not numbers, cannot contradict."""
    try:
        value = number_value(answer.replace("$", "").strip())
    except (AttributeError, ValueError):
        return True
    last = last_computed_number(steps)
    if last is None or same_answer(last, value):
        return True
    final = numbers_in(scan(steps[-1])[1]) | set(step_results(steps[-1]))
    return any(same_answer(n, value) for n in final)

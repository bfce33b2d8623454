"""Checking the arithmetic of explanation steps, the way a careful grader would.

Every equation a step writes, as a calculator mark `<<48/2=24>>` (GSM8K's rationales) or
as plain text `48 / 2 = $24`, is checked twice: the result must be the value of the
expression (rounded to the digits the step wrote, up or down), and every operand must be
a number the solver may use: one from the question (digits, number words such as
"twice" or "dozen", percentages also as fractions), one stated or computed earlier in the
explanation (earlier steps, or earlier in the same step), or a common constant (units of
time, 100 for percentages, 1000, small counts). A step that fails either check is wrong.

Only equations are checked: a step with none cannot be found wrong here.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|\.\d+)"
_OPERAND = rf"\(*\s*\$?{_NUMBER}%?\s*\)*"
_OPERATOR = r"[-+*/x×÷–−]"
_SIDE = rf"\$?{_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND})*"
# A plain-text equation or chain ("2 * 23 - 4 = 46 - 4 = 42"): its left side an operation,
# units may follow the last side. Not one whose left side goes on further left ("60
# students x 2/3 = 40", "1 1/2 = 1.5", "2(50+70) = 240"), nor one whose last number runs
# into a word ("100/5 = 5A/5"): those cannot be read.
PLAIN_EQUATION = re.compile(
    rf"(?<![\w.,/*+×÷–−()-])(?<![-+*/x×÷–−\d)] )"
    rf"({_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND})+(?:\s*=\s*{_SIDE})+)(?!\w|\.\d|/\d)")
MARK = re.compile(r"<<([^<>=]*)=([^<>=]*)>>")
_NUMBER_IN_TEXT = re.compile(rf"{_NUMBER}")
_FRACTION = re.compile(r"(?:(\d+)(?:\s+|\s+and\s+))?(\d+)/(\d+)")

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


def evaluate(expression: str) -> float:
    """The value of + - * / // ( ) on numbers; `x`, `×`, `÷`, `$`, `,` and `%` as written
    by people (`20%` is 0.2)."""
    text = (" ".join(expression.split()).replace(",", "").replace("$", "").replace("×", "*")
            .replace("÷", "/").replace("x", "*").replace("–", "-").replace("−", "-"))
    text = re.sub(r"(\d+(?:\.\d+)?|\.\d+)\s*%", r"(\1/100)", text)
    # a fraction written tight is one number: "25 / 1/3" is 25 divided by a third
    text = re.sub(r"(?<![\d.])(\d+)/(\d+)(?![\d.])", r"(\1/\2)", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
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
    except ZeroDivisionError:
        raise NotArithmetic(expression) from None


def same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def result_matches(value: float, written: str) -> bool:
    """Whether the number `written` is `value`, rounded (half, down or up) to the
    decimals written; a percentage may stand for its fraction ("100% - 40% = 60%")."""
    plain = written.replace(",", "").replace("$", "").replace("%", "").strip()
    results = {evaluate(written), evaluate(plain)}
    decimals = len(plain.split(".")[1]) if re.fullmatch(r"-?\d*\.\d+", plain) else 0
    scale = 10 ** decimals
    return any(same(result, f(v * scale) / scale) for result in results
               for v in (value, value * 100) for f in (float, round, math.floor, math.ceil))


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


def numbers_in(text: str) -> set[float]:
    """Every number a text states: digits (1,200 and .5 too), fractions and mixed numbers
    also as their values, percentages also as fractions, and numbers in words (a word
    like "half" also as its fraction)."""
    found = _word_values(text)
    for match in _NUMBER_IN_TEXT.finditer(text):
        value = float(match.group().replace(",", ""))
        found.add(value)
        if text[match.end():match.end() + 1] == "%":
            found.add(value / 100)
    for whole, top, bottom in _FRACTION.findall(text):
        if int(bottom):
            found.add(int(whole or 0) + int(top) / int(bottom))
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
    equation blanked out. A plain-text equation that repeats a mark is kept once."""
    found = [Equation([*m.groups()], m.start(), True) for m in MARK.finditer(step)]
    rest = MARK.sub(lambda m: " " * len(m.group()), step)  # keeps offsets
    for match in PLAIN_EQUATION.finditer(rest):
        sides = re.split(r"\s*=\s*", match.group(1).strip())
        try:
            values = [evaluate(side) for side in sides]
        except NotArithmetic:
            continue  # unreadable plain text is not checked
        repeat = any(same(values[0], evaluate(e.sides[0]))
                     and same(values[-1], evaluate(e.sides[-1]))
                     for e in found if e.mark and _readable(e))
        if not repeat:
            found.append(Equation(sides, match.start(), False))
    rest = PLAIN_EQUATION.sub(lambda m: " " * len(m.group()), rest)
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
        if not usable(float(number.replace(",", "")), known):
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

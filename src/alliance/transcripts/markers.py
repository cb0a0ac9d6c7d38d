"""Relational markers and the therapist codes AnnoMI does not label, found by phrase patterns.

No public corpus labels rupture markers, transference, self-disclosure or affirmation, so these are
patterns written from the definitions below and checked against a small hand-labelled set shipped in
transcripts/data/markers.jsonl (precision and recall on its held-out part: docs/transcripts.md).
- Confrontation and withdrawal: the rupture markers of the Rupture Resolution Rating System
  (3RS; Eubanks, Muran & Safran 2015).
- Transference: the client casting the therapist as a figure from their past.
- Advice without permission: MITI 4.2.1 "Persuade" vs "Persuade with permission"
  (Moyers et al. 2016).
- Self-disclosure and affirmation: MISC 2.5 / MITI 4.2.1 behaviour definitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from alliance.transcripts.model import Marker, Role


def _rx(*patterns: str) -> re.Pattern[str]:
    # Callers search lower-cased text: IGNORECASE makes long alternations several times slower.
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_FAMILY = (
    r"(?:mother|mom|mum|father|dad|parents?|ex|ex-?husband|ex-?wife|husband|wife|brother|"
    r"sister|grandmother|grandfather|stepfather|stepmother|teacher|boss|old therapist|"
    r"last therapist|family)"
)

TRANSFERENCE = _rx(
    rf"\byou(?:'re| are)? (?:just |exactly )?(?:like|sound(?:ing)? like|talk like|act like|"
    rf"remind me of|look like|are like|the same as) (?:my|his|her) {_FAMILY}",
    rf"\byou sound (?:just |exactly )?like (?:my|his|her) {_FAMILY}",
    rf"\b(?:that's|this is|that is) (?:exactly )?what my {_FAMILY} (?:always |used to )?(?:say|said|says|do|did)",  # noqa: E501
    rf"\bjust like my {_FAMILY}\b.*\byou\b",
    r"\byou(?:'re| are) going to (?:leave|abandon|give up on) me like",
    rf"\bwhen you (?:say|said|do|look at me like) that,? (?:i|it) .*\bmy {_FAMILY}",
)

# Likening in any words: the therapist ("you", "your", "when you…") and a figure from the
# client's past in one turn, joined by a word that compares or returns ("like", "the same",
# "as if", "remind", "again", "back with"). Weaker evidence than the phrases above.
_PAST_FIGURE = (
    r"(?:mother|mom|mum|mummy|father|dad|daddy|old man|parents?|ex|ex-?husband|ex-?wife|"
    r"stepdad|stepmum|stepmom|stepfather|stepmother|grandmother|grandma|gran|grandfather|"
    r"grandad|granddad|uncle|aunt|teacher|headteacher|headmaster|headmistress|coach|boss|"
    r"brother|sister)"
)
_LIKENING = r"(?:like|the same|as if|as though|remind|again|back (?:at|in|with|to)|the way)"
TRANSFERENCE_LIKENING = re.compile(
    rf"^(?=.*\byou(?:r|'re)?\b)(?=.*\bmy {_PAST_FIGURE}\b)(?=.*\b{_LIKENING}\b)"
)

CONFRONTATION = _rx(
    r"\byou(?:'re| are)? (?:never|not|don't|do not|didn't) (?:even )?(?:listen|listening|hear|hearing|get it|understand|care|helping|help)",  # noqa: E501
    r"\byou don't (?:even )?(?:know|get) (?:me|what|anything)",
    r"\b(?:this|these sessions?|therapy|talking) (?:is|are|isn't|aren't) (?:not )?(?:helping|working|pointless|useless|a waste)",  # noqa: E501
    r"\bwhat(?:'s| is) the point (?:of|in) (?:this|these|coming|talking)",
    r"\bwaste of (?:my )?time\b",
    r"\byou always\b",
    r"\bstop (?:telling me|lecturing|judging)",
    r"\byou(?:'re| are) (?:judging|lecturing|patronizing|patronising|blaming) me",
    r"\bwhy should i (?:trust|listen to) you",
    r"\byou(?:'re| are) (?:supposed|meant) to (?:help|be helping)",
    r"\bi(?:'m| am) (?:sick|tired) of (?:you|this|these sessions)",
    r"\byou just (?:sit there|want|don't)",
    r"\beasy for you to say\b",
    r"\bwho are you to\b",
)

WITHDRAWAL_STRONG = _rx(
    r"^\W*(?:i )?(?:don't|dont|do not) know\W*$",
    r"^\W*(?:i )?dunno\W*$",
    r"^\W*whatever\W*$",
    r"^\W*(?:i )?(?:don't|do not) (?:want|wanna) to talk about (?:it|that|this)",
    r"\bcan we (?:talk about|change the subject|move on|not talk about)",
    r"\bi(?:'d| would) rather not (?:talk|say|get into|go into)",
    r"\bi(?:'m| am) (?:fine|ok|okay)\.? (?:can we|let's)",
    r"^\W*(?:nothing|no idea|not really|i guess|fine|doesn't matter|it doesn't matter)\W*$",
    r"\bleave it\b",
    r"\bi don't want to get into (?:it|that)",
)

# Backchannels are engagement, not withdrawal (AnnoMI is full of them).
BACKCHANNEL = _rx(r"^\W*(?:mm+-?hmm+|uh-?huh|yeah|yes|yep|right|okay|ok|sure|hm+|mm+)\W*$")

SELF_DISCLOSURE = _rx(
    r"\bi (?:also|too) (?:have|had|struggled|went through|used to|smoked|drank|lost)",
    r"\bwhen i was (?:younger|your age|a kid|a teenager|in college|going through)",
    r"\bin my own (?:life|experience|family|recovery)",
    r"\bi(?:'ve| have) been there (?:myself|too)",
    r"\bi remember when i\b",
    r"\bmy own (?:kids?|son|daughter|wife|husband|mother|father|family|experience|divorce)",
    r"\bi(?:'ve| have) (?:had|struggled with|gone through|dealt with) (?:that|this|something similar|the same|similar) (?:myself|too)",  # noqa: E501
    r"\bi used to (?:smoke|drink|use|struggle|have)",
    r"\bspeaking (?:personally|for myself),? i\b",
    r"\b(?:me too|same here)\b.*\bi\b",
    r"\bi(?:'m| am) a (?:recovering|former|ex-?)\w*",
)

AFFIRMATION = _rx(
    r"\byou(?:'ve| have) (?:really |already )?(?:done|made|achieved|worked|shown|come) (?:so |a )?(?:a lot|well|great|good|real|amazing|huge|much|far|progress|hard)",  # noqa: E501
    r"\b(?:that's|that is|that was) (?:really |so )?(?:great|wonderful|impressive|brave|courageous|a big step|a real achievement|an accomplishment)",  # noqa: E501
    r"\bwell done\b",
    r"\bgood for you\b",
    r"\byou should be (?:really |very )?proud",
    r"\b(?:that|it) (?:took|takes) (?:a lot of )?(?:courage|guts|strength)",
    r"\byou(?:'re| are) (?:clearly |really |obviously )?(?:a )?(?:very )?(?:strong|determined|committed|resourceful|resilient|brave|caring|thoughtful)",  # noqa: E501
    r"\bi (?:really )?(?:appreciate|admire) (?:you|your|that you|how you)",
    r"\bthank you for (?:sharing|being so|being honest|telling me|your honesty)",
    r"\byou(?:'ve| have) (?:clearly |really )?(?:put|given) (?:a lot of )?(?:thought|effort)",
)

# Directive openings at the start of a sentence ("you feel you have to…" mid-sentence reflects).
ADVICE = _rx(
    r"(?:^|[.!;]\s+)(?:so,? |well,? |honestly,? )?you (?:really )?(?:should|must|have to|need to|ought to|'ve got to|gotta)\b",  # noqa: E501
    r"\bi(?:'d| would) (?:strongly )?(?:recommend|suggest|advise)\b",
    r"\bmy (?:advice|recommendation|suggestion) (?:is|would be)",
    r"(?:^|[.!;]\s+)why don't you\b",
    r"(?:^|[.!;]\s+)(?:just )?(?:try to|stop|quit|cut down|cut out|start) \w+",
    r"\bthe best thing (?:to do|you can do|would be)",
    r"\bif i were you\b",
)

PERMISSION = _rx(
    r"\b(?:is it|would it be) (?:ok|okay|alright|all right) (?:if|with you if) i\b",
    r"\bwould you (?:like|mind if|be interested|want) (?:me to|to hear|some|if i|for me to)",
    r"\bcan i (?:share|tell you|offer|make a suggestion|give you|suggest)",
    r"\bmay i (?:share|tell you|offer|make|give|suggest)",
    r"\bdo you mind if i\b",
    r"\bwould it help if i\b",
    r"\bwould you like (?:some|to hear|to know)\b",
)

REQUEST = _rx(
    r"\bwhat (?:should|could|can|would) i (?:do|try)\b",
    r"\bwhat do you (?:think|suggest|recommend)\b",
    r"\b(?:any|some|your) (?:advice|suggestions?|ideas|tips|recommendations?)\b",
    r"\bwhat would you do\b",
    r"\bhow (?:do|can|should) i\b.*\?",
    r"\btell me what to do\b",
)

# A reflection phrased as a check on understanding is still a reflection: MISC 2.5 and MITI 4.2.1
# code a reflective statement whose voice rises at the end ("So you're saying the evenings are
# hardest?") as a reflection, and keep "question" for a request for new information
# (Miller, Moyers, Ernst & Amrhein, MISC 2.5, 2008; Moyers, Manuel & Ernst, MITI 4.2.1, 2016).
_ASKS = (
    r"(?:what|how|why|when|where|who|which|do|does|did|is|are|was|were|can|could|would|will|"
    r"have|has|should|shall|may|might|any)\b"
)
REFLECTIVE_STEM = _rx(
    r"^\W*(?:(?:so|okay|ok|right|and|well),? )?(?:what )?you(?:'re| are) (?:saying|telling me|feeling|finding)\b",  # noqa: E501
    r"^\W*(?:(?:so|okay|ok|right|and|well),? )?(?:it )?(?:sounds|seems|looks) (?:like|as if|as though|that)\b",  # noqa: E501
    r"^\W*(?:(?:so|okay|ok|right|and),? )?what i(?:'m| am) hearing\b",
    r"^\W*(?:(?:so|okay|ok|right|and),? )?if i(?:'ve| have)? (?:got|get|understand|understood|heard) (?:this|that|you|it) (?:right|correctly)\b",  # noqa: E501
    rf"^\W*so,? (?!{_ASKS})\w+",
)
CHECK_TAG = _rx(
    r"\b(?:is|was) (?:that|this) (?:right|correct|fair|accurate|it|how it is|how it's been|how (?:it|that) feels|what you mean|how (?:she|he|they) puts? it)\W*$",  # noqa: E501
    r"\b(?:did|have) i (?:got|get|understood|understand|heard) (?:that|this|you|it) (?:right|correctly)\W*$",  # noqa: E501
    r"\bam i (?:right|hearing (?:you|that|this) (?:right|correctly)|getting (?:this|that|it) right)\W*$",  # noqa: E501
    r"\bdoes (?:that|this) (?:fit|sound right|sound about right|ring true)\W*$",
    r",\s*right\W*$",
)
_ASKS_FIRST = re.compile(rf"^\W*(?:(?:so|and|okay|ok|well),? )?{_ASKS}")


def is_reflection_check(text: str) -> bool:
    """A reflective statement asked back to check it ("It sounds like …, is that right?")."""
    low = text.lower().strip()
    if not low.endswith("?"):
        return False
    if REFLECTIVE_STEM.search(low):
        return True
    body = CHECK_TAG.sub("", low)
    return body != low and len(re.findall(r"\w+", body)) >= 4 and not _ASKS_FIRST.search(body)


_PERMISSION_GRANTED = _rx(r"^\W*(?:yes|yeah|sure|ok|okay|go ahead|please|alright|fine|i guess)\b")


# The phrase pattern behind each marker the learned heads also cover (marker_model.py).
PATTERNS = {
    "confrontation": CONFRONTATION,
    "withdrawal": WITHDRAWAL_STRONG,
    "transference": TRANSFERENCE,
    "self_disclosure": SELF_DISCLOSURE,
    "advice": ADVICE,
}


@dataclass(frozen=True)
class Context:
    """What a marker rule may look at: this turn and the turns before it."""

    speaker: Role
    text: str
    code: str
    history: Sequence[tuple[Role, str]]  # earlier turns, oldest first


def _hit(pattern: re.Pattern[str], text: str) -> str:
    m = pattern.search(text)
    return m.group(0) if m else ""


def permission_or_request_before(history: Sequence[tuple[Role, str]], window: int = 4) -> bool:
    """True when the therapist asked permission, or the client asked for advice, just before."""
    recent = list(history)[-window:]
    for i, (speaker, raw) in enumerate(recent):
        text = raw.lower()
        if speaker == "therapist" and PERMISSION.search(text):
            # Permission counts once the client did not refuse it.
            rest = [t.lower() for s, t in recent[i + 1 :] if s == "client"]
            if (
                not rest
                or _PERMISSION_GRANTED.search(rest[0])
                or not re.search(r"^\W*(?:no|not really|nope)\b", rest[0], re.IGNORECASE)
            ):
                return True
        if speaker == "client" and REQUEST.search(text):
            return True
    return False


def is_advice_text(text: str) -> bool:
    """Lexical advice cue used to back up the classifier's advice subtype."""
    return ADVICE.search(text.lower()) is not None and "?" not in text.rstrip()[-1:]


def find_markers(ctx: Context) -> list[Marker]:
    """All markers on one utterance; confidences reflect how specific each pattern is."""
    out: list[Marker] = []
    text = ctx.text.lower()
    if ctx.speaker == "client":
        hit = _hit(TRANSFERENCE, text)
        if hit:
            out.append(Marker("transference", 0.8, hit))
        elif TRANSFERENCE_LIKENING.search(text):
            out.append(
                Marker("transference", 0.6, "the therapist likened to a figure from the past")
            )
        hit = _hit(CONFRONTATION, text)
        if hit:
            out.append(Marker("confrontation", 0.75, hit))
        hit = _hit(WITHDRAWAL_STRONG, text)
        if hit:
            out.append(Marker("withdrawal", 0.7, hit))
        elif _minimal_after_open(ctx):
            out.append(Marker("withdrawal", 0.4, "minimal answer to an open question"))
    else:
        hit = _hit(SELF_DISCLOSURE, text)
        if hit:
            out.append(Marker("self_disclosure", 0.75, hit))
        if ctx.code == "advice" and not permission_or_request_before(ctx.history):
            out.append(Marker("advice_without_permission", 0.7, _hit(ADVICE, text)))
    return out


def _minimal_after_open(ctx: Context) -> bool:
    words = re.findall(r"\w+", ctx.text)
    if len(words) > 2 or BACKCHANNEL.search(ctx.text.lower()) or not ctx.history:
        return False
    speaker, prev = ctx.history[-1]
    return speaker == "therapist" and bool(
        re.search(r"\b(?:what|how|tell me|describe|why)\b[^?]*\?", prev, re.IGNORECASE)
    )


def therapist_override(text: str, code: str) -> tuple[str, float] | None:
    """Codes AnnoMI has no label for: self-disclosure and affirmation replace a weak base code."""
    text = text.lower()
    if SELF_DISCLOSURE.search(text):
        return "self_disclosure", 0.75
    if code in ("other", "information", "reflection_complex", "reflection_simple") and (
        AFFIRMATION.search(text)
    ):
        return "affirmation", 0.7
    return None

#!/usr/bin/env python3
"""Builds tests/data/tokenizers/corpus.jsonl: the texts the tokenizer conformance test encodes.

Deterministic: the hand-written edge cases below come first, then cuts of real text read from files of a Debian 12
machine (licenses, perl pods, man pages, vim tutors and docs, cmake help, Python and C++ sources). A file that is
missing or not valid UTF-8 is skipped with a warning, so the output depends on what is installed; the committed
corpus.jsonl is the output on the machine that generated it (see tools/tokenizer_testdata/README.md), and this
script prints the sha256 of what it wrote so a regenerated corpus can be compared.

Output: one JSON object {"text": "..."} per line, UTF-8. Invisible and control characters are written as \\uXXXX
escapes so the file stays readable and diff-able; everything else is written raw.

Usage: python3 tools/tokenizer_testdata/make_corpus.py [--out tests/data/tokenizers/corpus.jsonl]
stdlib only.
"""
import argparse
import hashlib
import json
import os
import sys
import unicodedata

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import text_sources  # noqa: E402  (tools/tokenizer_testdata/text_sources.py, next to this script)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "tests", "data", "tokenizers", "corpus.jsonl")

ENTRIES = []  # (category, text)


def add(cat, *texts):
    for t in texts:
        assert isinstance(t, str)
        ENTRIES.append((cat, t))


def warn(msg):
    print("make_corpus: " + msg, file=sys.stderr)


# ----------------------------------------------------------------------------------------------------------------
# Hand-written edge cases
# ----------------------------------------------------------------------------------------------------------------

def edge_cases():
    # Empty and whitespace only.
    add("empty_ws", "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \t \n", " \n", "\n ",
        "   \n\n   ", "\x0b", "\x0c", " \r\n ")

    # Runs of spaces.
    for n in list(range(1, 13)) + [15, 16, 17, 20, 24, 31, 32, 33, 39, 40]:
        add("spaces", "a" + " " * n + "b")
    for n in (1, 2, 3, 8, 16, 33):
        add("spaces", " " * n + "hello", "hello" + " " * n)
    for n in (1, 2, 3, 16, 40):
        add("spaces", " " * n)
    add("spaces", "hello   \n   world", "a  b   c    d     e", "  leading and trailing  ", "x " * 20,
        "one two  three   four    five", " . , ; : ", "word  ,  word  .  ")

    # Tabs, CR LF, CR.
    add("tabs_cr", "\tindented", "a\tb", "a\t\tb", "\t\t\t\tx", "x\t", " \t x \t \t \tmixed",
        "col1\tcol2\tcol3\n1\t2\t3\n", "key:\tvalue\n\tcontinued", "\t\n\t\n",
        "line1\r\nline2\r\n", "a\rb\rc", "\r\n\r\n\r\n", "x \r\n y", "a\r\r\nb", "end\r",
        "Windows\r\nline\r\nendings\r\n\r\nparagraph", "mixed\nunix\r\nand\rold mac\n \r \r \r",
        "\rstart tab\r\n\tafter crlf")

    # Newlines.
    for n in (1, 2, 3, 4, 5, 8, 12, 16, 20, 29, 30):
        add("newlines", "a" + "\n" * n + "b")
    for n in (2, 9, 30):
        add("newlines", "\n" * n)
    add("newlines", " \n \n  \n", "a \n\n b", "  \n\t\n", "Hello\n\n\n  World  \n", "\n\n\n   ", "text   \n   text",
        "para one.\n\npara two.\n\n\npara three.\n", "a\n \n \n b trailing spaces   \n\n",
        "\n" * 10 + " " * 10 + "\n" * 10, "x\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\ny")

    # Digits of every length, and numbers mixed with letters and punctuation.
    digits = "1234567890" * 4
    for n in range(1, 41):
        add("digits", digits[:n])
    for n in (1, 4, 7, 33):
        add("digits", "x" + digits[:n] + "y", "price " + digits[:n] + " units")
    add("numbers", "3.14159", "1,000,000", "v2.0.1", "12345abc", "abc12345", "0x1F 0xdeadBEEF 1e-10 6.022e23 -42 +17",
        "+1 (555) 123-4567, 2024-01-15T10:30:00Z, 12:30pm", "$1,234.56 50% off 1/2 3/4 1_000_000 0.000001",
        "192.168.0.1:8080", "3rd 21st 100th #1 No.2 \u21163 007", "9999999999999999999999", "1.2.3.4.5.6.7.8.9.10",
        "\u0661\u0662\u0663\u0664\u0665 \u09e7\u09e8\u09e9", "\u0967\u0968\u0969 \u0e51\u0e52\u0e53",
        "\uff11\uff12\uff13", "x\u00b2 + y\u00b3 \u216b \u2163 1\u00bd cups", "100km/h A4 B12 C123 D1234",
        "10\u00a0000")

    # Contractions.
    add("contractions", "I'm", "YOU'RE", "they'Ve", "don't", "DON'T", "it's", "we'll", "she'd", "'s", "'S",
        "'t 're 've 'm 'll 'd 'D 'T 'RE 'Ve 'M 'LL", "I'M HERE", "You're right, aren't you?",
        "they've gone; THEY'VE GONE", "can't won't shouldn't've y'all ma'am o'clock", "rock 'n' roll ROCK'N'ROLL",
        "''", "'", "it\u2019s (curly)", "He said 'hello' and 'sup", "I'LL We'D She'S", "'ll'll'll 's's's",
        "don't\n", " 's", "\n's", "' s", "l'homme d'état", "I'm 42's 'sa 'tis 'twas")

    # Scripts (mostly UDHR article 1 and pangrams).
    add("cjk",
        "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
        "人人生而自由，在尊嚴和權利上一律平等。他們賦有理性和良心，並應以兄弟關係的精神相對待。",
        "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
        "コンピューターのプログラミング言語はパイソンです。ひらがな、カタカナ、漢字。",
        "\uff7a\uff9d\uff8b\uff9f\uff6d\uff70\uff80\uff70 (halfwidth katakana)",
        "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.",
        "한국어 텍스트와 English mixed 텍스트 123개",
        "中文English混合123測試", "東京都渋谷区1-2-3", "「引用」『二重』【括弧】〈山〉《书名》",
        "这是一个很长的中文句子没有任何标点符号用来测试分词器在处理连续汉字时的行为")
    add("cyrillic", "Все люди рождаются свободными и равными в своем достоинстве и правах.",
        "Усі люди народжуються вільними і рівними у своїй гідності та правах.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЖ ёж",
        "Всички хора се раждат свободни и равни по достойнство и права.")
    add("greek", "Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα.",
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. ΑΒΓΔ αβγδ ς σ ΐ ΰ")
    add("arabic", "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.",
        "وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.",
        "مرحبا بالعالم! ١٢٣ hello", "ﻻ ﷺ ﷽")
    add("hebrew", "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.",
        "שָׁלוֹם עֲלֵיכֶם", "עברית and English mixed 2024")
    add("hindi", "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है।",
        "नमस्ते दुनिया! क्षत्रिय ज्ञान श्री", "हिन्दी में १२३ और 123",
        "\u0915\u093c \u0958 (nukta)")
    add("thai", "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ๑๒๓")
    add("vietnamese", "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền lợi.",
        unicodedata.normalize("NFD", "Tiếng Việt có dấu: ặ ẫ ổ ữ ỵ (NFD)"),
        "Tiếng Việt có dấu: ặ ẫ ổ ữ ỵ (NFC)")
    add("other_scripts",
        "Bütün insanlar hür, haysiyet ve haklar bakımından eşit doğarlar. İstanbul ISTANBUL ıi İI",
        "Straße ÄRGER Öl übermäßig ẞ. Tous les êtres humains naissent libres et égaux en dignité et en droits.",
        "¿Dónde está el baño? ¡Olé! Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy",
        "Þú ert ðað æði ø å. ყველა ადამიანი იბადება თავისუფალი",
        "Մարդիկ ծնվում են ազատ. মানুষ স্বাধীনভাবে জন্মগ্রহণ করে।", "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்",
        "የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው።", "همه افراد بشر آزاد به دنیا می‌آیند",
        "Hello世界 Привет мир مرحبا שלום नमस्ते 🌍", "ᚠᛇᚻ᛫ᛒᛦᚦ runes, ꦗꦮ Javanese, 𐌰𐌱𐌲 Gothic",
        "𓀀𓀁 hieroglyphs ᐃᓄᒃᑎᑐᑦ Inuktitut")

    # Emoji.
    add("emoji", "👍", "👍🏽", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "🏴\u200d☠\ufe0f",
        "🇺🇸🇯🇵🇩🇪🇫🇷", "🇺", "❤\ufe0f ❤ ☺\ufe0f", "🤖 robot", "I love 🍕 and 🍣!", "😀😃😄😁😆😅😂🤣",
        "🧑🏾\u200d💻", "👩🏻\u200d❤\ufe0f\u200d💋\u200d👨🏼", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "#\ufe0f\u20e3 1\ufe0f\u20e3", "©\ufe0f ®\ufe0f ™\ufe0f", "🫠🫶 🫨 (Unicode 15) 🀄🃏", "word👍word",
        "emoji at end 🎉", "🎉 emoji at start " + "😀 " * 10)

    # Normalization: NFC and NFKC sensitive text.
    add("normalization", "e\u0301", "\u00e9", "A\u030a", "\u00c5", "\u212b (angstrom sign)", "\u2126 (ohm sign)",
        "cafe\u0301 vs caf\u00e9", "n\u0303 vs \u00f1", "o\u0308\u0304", "a\u0328\u0301 vs a\u0301\u0328",
        "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165 vs 한국어", "\uac00\u11a8",
        "\ufb01le \ufb02ow", "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff21\uff11", "\u2460\u2461\u2462",
        "\u338f \u339e \u2122 \u00bd \u2026", "\u017f \u00b5 \u2163 \u3231", "\u0958 \u0959 \u095a",
        "\u0344 \u0387 \u1fee \u01c4 \u01c5 \u01c6", "\ufb2c \ufb1d", "A\u0300\u0316", "\u0301abc",
        "a" + "\u0301" * 20, "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f",
        "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 \U0001d7d9\U0001d7da\U0001d7db",
        "\u00c5ngstr\u00f6m A\u030angstro\u0308m", unicodedata.normalize("NFD", "Crème brûlée à la française, Ñandú"),
        "\u0041\u030a\u0042\u0301\u0043\u0327", "\u1e9b\u0323 \u0fb3\u0f71\u0f80 tibetan",
        "\u304b\u3099 \u30cf\u309a \uff8a\uff9f", "\u2000\u2001 em quad")

    # Unicode spaces.
    for cp in [0x00A0] + list(range(0x2000, 0x200B)) + [0x202F, 0x205F, 0x3000, 0x1680, 0x2028, 0x2029, 0x0085]:
        add("unicode_spaces", "a" + chr(cp) + "b")
    add("unicode_spaces", "100\u00a0km", "hello\u3000world\u3000！", " \u00a0 ", "\u00a0\u00a0x",
        "\u2003\u2003indented by em spaces x\u00a0\u00a0\u00a0\u00a0y", "\u3000", "\u00a0",
        "a \u00a0b\u00a0 c line\u2028separator\u2029para \u205f\u202f\u2009")

    # Zero-width and other format characters inside words.
    add("zero_width", "zero\u200bwidth", "ZW\u200cNJ", "a\u200db", "word\u2060joiner", "in\ufeffside", "\u200b",
        "\u200b\u200b\u200b", "a\u2062b co\u00adoperate a\u034fb x\u180ey", "\u202eRTL override\u202c",
        "\u200eLRM\u200f RLM \u2066isolate\u2069", "hello\u200b world\u200c !\u200d", "\u200bstart end\u200b",
        "می\u200cخواهم", "क\u094d\u200dष")

    # Control characters.
    for first in range(0, 32, 4):
        add("control", "".join("x" + chr(cp) for cp in range(first, first + 4)) + "y")
    add("control", "nul\x00inside", "\x00", "\x00\x00\x00", "\x1b[31mred\x1b[0m", "a\x7fb", "\x7f", "a\x85b",
        "".join(chr(c) for c in range(0x80, 0xa0)), "ctrl:" + "".join(chr(c) for c in range(0, 32)) + ":end",
        "bell\x07 backspace\x08 escape\x1b", "\x01\x02\x03text\x04", "form\x0cfeed vertical\x0btab")

    # Byte order mark.
    add("bom", "\ufeffHello", "\ufeff", "\ufeff\ufeffdouble", "\ufeff# Title\n", "\ufeff 1", "\ufeff\n")

    # Special-token strings of each family, and near misses.
    add("special_qwen3", "<|endoftext|>", "Hello<|endoftext|>World", "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n", "<think>\nreasoning here\n</think>\n\nThe answer is 4.",
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        "<|fim_prefix|>def f():<|fim_suffix|>\n    return 1<|fim_middle|>", "<|vision_start|><|image_pad|><|vision_end|>",
        "<|endoftext|", "<|endoftext |endoftext|>", "< |endoftext|> <|ENDOFTEXT|>", "<|endoftext|><|endoftext|>",
        " <|endoftext|> ", "<|im_start|><|im_end|>", "<|im_start|assistant <<|endoftext|>>", "<|endoftext|>\n\n")
    add("special_llama3", "<|begin_of_text|>", "<|begin_of_text|>Hello",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_247|>", "<|begin_of_text| <|begin_of_text |>", "<|eot_id|><|eot_id|>",
        " <|eot_id|>x", "<|begin_of_text|><|begin_of_text|>")
    add("special_llama2", "<s>", "</s>", "<unk>", "<s>[INST] Hello [/INST] Hi </s>", "< s> <s > <S> </ s>",
        "<<SYS>>\nYou are helpful.\n<</SYS>>\n\n", " <s> ", "<s><s></s>", "text</s>more", "<unk><unk>", "a<s>b")
    add("special_gemma3", "<bos>", "<eos>", "<pad>", "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
        "<mask>", "[multimodal] <unused0> <unused99>", "<start_of_image><image_soft_token><end_of_image>",
        "<h1>Title</h1><p>para</p>", "<b>bold</b> <i>it</i> <s>strike</s> <code>x</code>",
        "<table><tr><td>1</td></tr></table> <div><span>x</span></div> <br>line<br/>", "<bos <start_of_turn >",
        "<bos><bos>", "<eos>\n")
    add("special_deepseek", "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<\uff5cUser\uff5c>Hello<\uff5cAssistant\uff5c>Hi<\uff5cend\u2581of\u2581sentence\uff5c>", "<|EOT|>",
        "<\uff5cfim\u2581begin\uff5c>def f():<\uff5cfim\u2581hole\uff5c>\n<\uff5cfim\u2581end\uff5c>",
        "<\uff5ctool\u2581calls\u2581begin\uff5c><\uff5ctool\u2581call\u2581begin\uff5c>function<\uff5ctool\u2581sep\uff5c>",
        "<\uff5c\u2581pad\u2581\uff5c>", "<|begin\u2581of\u2581sentence|>", "<\uff5cbegin of sentence\uff5c>",
        "<\uff5cbegin\u2581of\u2581sentence\uff5c <|eot|>", "<\uff5cplace\u2581holder\u2581no\u25810\uff5c>")
    add("special_mixed", "<|endoftext|><s></s><bos><|begin_of_text|><\uff5cbegin\u2581of\u2581sentence\uff5c>",
        "User: <s>hi</s> <|im_start|>x<|im_end|> <start_of_turn>y<end_of_turn> <|eot_id|>",
        "Special tokens in prose: the model emits </s> or <eos> or <|endoftext|> when it is done.")

    # SentencePiece meta symbol and byte-level-looking characters.
    add("meta_chars", "\u2581", "\u2581\u2581\u2581", "\u2581hello\u2581world", "hello \u2581 world", "\u2581\u2581 x",
        "\u0120", "\u0120\u0120hello \u010a", "hello\u010aworld \u0109tab", "\u00e2\u0122\u013b", "\u00c3\u00a9",
        "\u0120the \u0120of <0x0A> <0xE2>", "\u2581" * 30, "\u2581\n\u2581")

    # Source code.
    add("code",
        "def fib(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n"
        "        a, b = b, a + b\n    return a\n\n\nif __name__ == \"__main__\":\n    print(fib(10))\n",
        "class Foo:\n    def __init__(self, x: int = 0) -> None:\n        self.x = x  # comment\n\n"
        "    def __repr__(self):\n        return f\"Foo({self.x!r})\"\n",
        "#include <vector>\n#include <cstdio>\n\nint main(int argc, char** argv) {\n\tstd::vector<int> v{1, 2, 3};\n"
        "\tfor (auto& x : v) {\n\t\tstd::printf(\"%d\\n\", x);\n\t}\n\treturn 0;\n}\n",
        "template <typename T>\nconstexpr T clamp(T v, T lo, T hi) noexcept { return v < lo ? lo : (hi < v ? hi : v); }\n",
        "{\n  \"name\": \"fp4gptq\",\n  \"version\": \"1.0.0\",\n  \"tags\": [\"a\", \"b\"],\n  \"nested\": {\"x\": 1.5e-3, "
        "\"y\": null, \"z\": true}\n}\n",
        "{\"compact\":[1,2,3],\"s\":\"\\u00e9\\n\"}",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
        "#!/bin/sh\nset -eu\nfor f in *.txt; do\n  echo \"$f\" | tr 'a-z' 'A-Z' >> out.log 2>&1\ndone\n",
        "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC LIMIT 10;",
        "const re = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@example\\.com$/i;\nlet x = a?.b ?? c;\n",
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>T</title></head>\n"
        "<body>\n  <p class=\"x\">Hello &amp; welcome &lt;3</p>\n</body>\n</html>\n",
        "if (x != 0 && y == 1 || !z) { a += b; b <<= 2; c >>= 3; d ^= e; } // done",
        "    four spaces\n        eight spaces\n\ttab\n\t\ttwo tabs\n  \t mixed\n",
        "x=1;y=2;z=x+y*3-4/5%6**7", "a->b->c; p::q::r; m.n.o", "   \n    \n        return;\n")

    # URLs, emails, markdown, LaTeX.
    add("urls_markup", "https://huggingface.co/docs/tokenizers/index?x=1&y=2#frag", "mailto:user@example.com",
        "user.name+tag@sub.example.co.uk", "ftp://ftp.example.org/pub/file.tar.gz www.example.com/path/to/page.html",
        "http://[::1]:8080/", "https://例え.jp/パス?q=値", "https://xn--r8jz45g.jp/", "C:\\Users\\Name\\file.txt /usr/share/doc/README.md", "# Heading\n\n- item 1\n- item 2\n\n**bold** _it_ `code`\n\n```python\nprint(1)\n```\n",
        "| a | b |\n|---|---|\n| 1 | 2 |\n", "[text](http://x.y/z) ![img](a.png)", "> quote\n>> nested\n***\n---\n___",
        "$E = mc^2$", "\\frac{a}{b} + \\sqrt{x^2 + y^2}",
        "\\begin{equation}\n\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}\n\\end{equation}",
        "\\alpha\\beta\\gamma \\mathbb{R}^n $$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$", "@user #hashtag $TICKER")

    # Repeated characters.
    for n in (2, 3, 8, 16, 64, 256, 1000):
        add("repeated", "a" * n)
    add("repeated", "!" * 6, "!" * 50, "-" * 10, "-" * 80 + "\n" + "=" * 80, "." * 3, "." * 100, "_" * 40 + "*" * 20,
        "ab" * 50, "\U0001f600" * 30, "\u4e2d" * 50, "\n-" * 20, " a" * 100, "0" * 100, "#" * 64 + "~" * 30 + "::" * 20 + "?!" * 10, "\u00e9" * 40, "\u0915\u093e" * 25, " " * 200, "\t" * 40, "a" * 5000)

    # Very long words.
    h = hashlib.sha256(b"fp4gptq").hexdigest()
    hexblob = ""
    while len(hexblob) < 2000:
        hexblob += h
        h = hashlib.sha256(h.encode()).hexdigest()
    add("long_words", "Pneumonoultramicroscopicsilicovolcanoconiosis", "Donaudampfschifffahrtsgesellschaftskapitän",
        "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "supercalifragilisticexpialidocious" * 10,
        hexblob, "abcdefghij" * 500, "https://example.com/" + "a/b" * 300,
        "".join(chr(0x4e00 + (i * 7919) % 20000) for i in range(600)),
        "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[int(hexblob[i:i + 2], 16) % 64]
                for i in range(0, 1600, 2)))

    # Miscellaneous punctuation and case.
    add("misc", "Hello world", "Hello World!", "hello world", " Hello world", "HeLLo WoRLD ALL CAPS SENTENCE HERE",
        "?!?! ... \u2014 em dash \u2013 en dash", "\u201csmart\u201d \u2018quotes\u2019 \u00abguillemets\u00bb "
        "\u201eGerman\u201c", "(parentheses) [brackets] {braces} a/b\\c|d @#$%^&* \u00b7 \u2022 \u00b6 \u00a7 \u00bf\u00a1",
        "The quick brown fox jumps over the lazy dog.", "A", "a", ".", "\u00e9t\u00e9",
        "Mr. Smith's dog, Max, isn't here; he's at Dr. Jones's.", "e.g. i.e. etc. U.S.A. U.K.",
        "snake_case camelCase PascalCase kebab-case SCREAMING_CASE", "\ufffd replacement char", "\u00a9 2024 \u00ae",
        "\U0010fffd private use plane 16", "\ue000 private use", "\ufdd0 noncharacter \uffff")


# ----------------------------------------------------------------------------------------------------------------
# Real text from files on disk
# ----------------------------------------------------------------------------------------------------------------

def cut(text, nbytes, key):
    """A deterministic cut of about nbytes UTF-8 bytes (2 KB .. 20 KB) starting and ending at line boundaries."""
    lines = text.splitlines(keepends=True)
    total = sum(len(l.encode("utf-8")) for l in lines)
    if total <= nbytes:
        start = 0
    else:
        # Start at a line chosen from the hash of the key among those that leave room for nbytes.
        sizes = [len(l.encode("utf-8")) for l in lines]
        suffix = 0
        last_ok = 0
        for i in range(len(lines) - 1, -1, -1):
            suffix += sizes[i]
            if suffix >= nbytes:
                last_ok = i
                break
        start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % (last_ok + 1)
    out = []
    size = 0
    for l in lines[start:]:
        b = len(l.encode("utf-8"))
        if size + b > 20000:
            break
        out.append(l)
        size += b
        if size >= nbytes:
            break
    s = "".join(out)
    if len(s.encode("utf-8")) < 2000 and start > 0:
        return cut(text, nbytes, key + "'")
    return s


CUT_LENGTHS = [2048, 2600, 3200, 4000, 5000, 6000, 7500, 9000, 12000, 16000, 20000]

# (category, path). Roughly in the order: English prose, markup/documentation, multilingual, code.
REAL_SOURCES = [
    ("prose_license", "/usr/share/common-licenses/GPL-3"),
    ("prose_license", "/usr/share/common-licenses/GPL-2"),
    ("prose_license", "/usr/share/common-licenses/Apache-2.0"),
    ("prose_license", "/usr/share/common-licenses/Artistic"),
    ("prose_license", "/usr/share/common-licenses/MPL-2.0"),
    ("prose_license", "/usr/share/common-licenses/LGPL-2.1"),
    ("prose_license", "/usr/share/common-licenses/GFDL-1.3"),
    ("prose_license", "/usr/share/common-licenses/CC0-1.0"),
    ("prose_pod", "/usr/share/perl/5.36.0/pod/perldiag.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Locale/Maketext/TPJ13.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Locale/Maketext/Cookbook.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/ExtUtils/MakeMaker/FAQ.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/ExtUtils/MakeMaker/Tutorial.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Test/Tutorial.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Net/libnetFAQ.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/IO/Compress/FAQ.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/TAP/Harness/Beyond.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Test2/Transition.pod"),
    ("prose_pod", "/usr/share/perl/5.36.0/Encode/Supported.pod"),
    ("prose_man", "/usr/share/man/man1/bash.1.gz"),
    ("prose_man", "/usr/share/man/man1/man.1.gz"),
    ("prose_man", "/usr/share/man/man1/dpkg.1.gz"),
    ("prose_man", "/usr/share/man/man1/grep.1.gz"),
    ("prose_man", "/usr/share/man/man7/regex.7.gz"),
    ("prose_man", "/usr/share/man/man7/unicode.7.gz"),
    ("prose_doc", "/usr/share/vim/vim90/doc/usr_01.txt"),
    ("prose_doc", "/usr/share/vim/vim90/doc/usr_05.txt"),
    ("prose_doc", "/usr/share/vim/vim90/doc/mbyte.txt"),
    ("prose_doc", "/usr/share/cmake-3.25/Help/manual/cmake-language.7.rst"),
    ("prose_doc", "/usr/share/cmake-3.25/Help/manual/cmake-buildsystem.7.rst"),
    ("prose_doc", "/usr/share/doc/nodejs/api/zlib.md"),
    ("prose_doc", "/usr/share/doc/nodejs/api/url.md"),
    ("prose_doc", "/usr/share/doc/nodejs/BUILDING.md"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.ja.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.zh_cn.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.zh_tw.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.ko.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.ru.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.uk.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.el.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.vi.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.bg.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.sr.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.tr.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.eo.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.cs.utf-8"),
    ("multilingual", "/usr/share/vim/vim90/tutor/tutor.pl.utf-8"),
    ("multilingual", "/usr/share/man/ja/man5/apt.conf.5.gz"),
    ("multilingual", "/usr/share/man/zh_CN/man8/useradd.8.gz"),
    ("multilingual", "/usr/share/man/ko/man1/man.1.gz"),
    ("multilingual", "/usr/share/man/ru/man1/man.1.gz"),
    ("multilingual", "/usr/share/man/de/man1/dpkg-deb.1.gz"),
    ("multilingual", "/usr/share/man/fr/man1/dpkg-architecture.1.gz"),
    ("multilingual", "/usr/share/man/es/man8/apt-cache.8.gz"),
    ("multilingual", "/usr/share/man/pt/man1/dpkg-divert.1.gz"),
    ("code_real", "/usr/lib/python3.11/json/decoder.py"),
    ("code_real", "/usr/lib/python3.11/textwrap.py"),
    ("code_real", "/usr/include/c++/12/bits/stl_algo.h"),
    ("code_real", "/usr/include/nlohmann/json.hpp"),
    ("code_real", "/usr/share/cmake-3.25/Modules/FindBLAS.cmake"),
    ("code_real", "/usr/share/cmake-3.25/Templates/MSBuild/FlagTables/v142_CL.json"),
]


def real_text():
    for i, (cat, path) in enumerate(REAL_SOURCES):
        text = text_sources.read_text(path, text_sources.ROFF_CORPUS, warn)
        if text is None:
            continue
        n = CUT_LENGTHS[i % len(CUT_LENGTHS)]
        s = cut(text, n, path)
        if len(s.encode("utf-8")) < 2000:
            warn("cut of %s is only %d bytes" % (path, len(s.encode("utf-8"))))
        add(cat, s)


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------

def escape_char(c):
    cp = ord(c)
    if c == '"':
        return '\\"'
    if c == "\\":
        return "\\\\"
    short = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
    if c in short:
        return short[c]
    cat = unicodedata.category(c)
    visible = not (cat in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs") or (cat == "Zs" and c != " ")
                   or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or c in "\u034f\u115f\u1160\u3164\uffa0")
    if visible:
        return c
    if cp < 0x10000:
        return "\\u%04x" % cp
    v = cp - 0x10000
    return "\\u%04x\\u%04x" % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))


def to_json_line(text):
    return '{"text": "' + "".join(escape_char(c) for c in text) + '"}\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    edge_cases()
    real_text()

    seen = set()
    lines = []
    counts = {}
    sizes = {}
    for cat, t in ENTRIES:
        if t in seen:
            continue
        seen.add(t)
        t.encode("utf-8")  # raises on lone surrogates
        line = to_json_line(t)
        assert json.loads(line)["text"] == t
        lines.append(line)
        counts[cat] = counts.get(cat, 0) + 1
        sizes[cat] = sizes.get(cat, 0) + len(t.encode("utf-8"))
    data = "".join(lines).encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(data)
    for cat in counts:
        print("%-18s %4d texts %8d bytes" % (cat, counts[cat], sizes[cat]), file=sys.stderr)
    print("total %d texts, %d bytes written to %s" % (len(lines), len(data), args.out), file=sys.stderr)
    print(hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()

using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

internal enum TokenKind { Data, BlockBegin, BlockEnd, VariableBegin, VariableEnd, Name, String, Integer, Float, Operator, Eof }

internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, object? Value = null)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;
    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
}

/// <summary>
/// Splits a template into data and tag tokens with Jinja's whitespace rules as transformers configures them:
/// trim_blocks (the first newline after a block or comment tag is dropped), lstrip_blocks (spaces and tabs from the
/// start of a line up to a block or comment tag are dropped), `-` on a delimiter strips all whitespace on that side,
/// `+` turns the trim/lstrip rule off for that side. Newlines are normalised to \n and one trailing newline is
/// removed (keep_trailing_newline=False).
/// </summary>
internal sealed class Lexer
{
    private readonly string _src;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    private Lexer(string source)
    {
        string s = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (s.EndsWith('\n')) s = s[..^1];
        _src = s;
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private int Column(int pos) => pos - _lineStart + 1;

    private JinjaError Error(string message, int pos)
    {
        SyncLine(pos);
        return new JinjaError(message, _line, Column(pos));
    }

    private int _syncedTo;

    /// <summary>Advances the line counter to <paramref name="pos"/>.</summary>
    private void SyncLine(int pos)
    {
        for (int i = _syncedTo; i < pos && i < _src.Length; i++)
        {
            if (_src[i] == '\n')
            {
                _line++;
                _lineStart = i + 1;
            }
        }
        if (pos > _syncedTo) _syncedTo = pos;
    }

    private static bool IsJinjaSpace(char c) => char.IsWhiteSpace(c);

    private void Run()
    {
        bool lineStarting = true;
        bool stripNext = false;
        while (_pos <= _src.Length)
        {
            int tag = FindTag(_pos);
            int end = tag < 0 ? _src.Length : tag;
            string text = _src[_pos..end];
            if (stripNext)
            {
                int k = 0;
                while (k < text.Length && IsJinjaSpace(text[k])) k++;
                text = text[k..];
                stripNext = false;
            }
            int dataStart = end - text.Length;
            if (tag < 0)
            {
                EmitData(text, dataStart);
                break;
            }

            char kind = _src[tag + 1];
            char modifier = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            if (modifier == '-')
            {
                text = text.TrimEnd(IsWhitespaceChars);
            }
            else if (modifier != '+' && kind != '{')
            {
                // lstrip_blocks: only when the tag starts its line (after nothing but spaces and tabs).
                int lpos = text.LastIndexOf('\n') + 1;
                if (lpos > 0 || lineStarting)
                {
                    bool onlyBlanks = true;
                    for (int i = lpos; i < text.Length; i++) if (text[i] != ' ' && text[i] != '\t') { onlyBlanks = false; break; }
                    if (onlyBlanks) text = text[..lpos];
                }
            }
            EmitData(text, dataStart);

            int inner = tag + 2 + (modifier is '-' or '+' ? 1 : 0);
            SyncLine(tag);
            if (kind == '#')
            {
                int close = _src.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0) throw Error("missing end of comment tag", tag);
                bool minus = close > inner && _src[close - 1] == '-';
                bool plus = close > inner && _src[close - 1] == '+';
                _pos = close + 2;
                (stripNext, lineStarting) = AfterTagEnd(minus, plus);
                continue;
            }

            if (kind == '%' && TryRaw(tag, inner, ref stripNext, ref lineStarting)) continue;

            _tokens.Add(new Token(kind == '%' ? TokenKind.BlockBegin : TokenKind.VariableBegin, kind == '%' ? "{%" : "{{", _line, Column(tag)));
            char endModifier = TokenizeExpression(inner, kind == '%' ? '%' : '}', out int afterEnd);
            _pos = afterEnd;
            bool minusEnd = endModifier == '-', plusEnd = endModifier == '+';
            if (kind == '%') (stripNext, lineStarting) = AfterTagEnd(minusEnd, plusEnd);
            else
            {
                stripNext = minusEnd;
                lineStarting = false;
                if (minusEnd) lineStarting = EndsWithNewlineAfterStrip(_pos);
            }
        }
    }

    private static readonly char[] IsWhitespaceChars = [' ', '\t', '\n', '\r', '\f', '\v', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u001c', '\u001d', '\u001e', '\u001f', '\u0085'];

    /// <summary>After `%}` or `#}`: `-` strips what follows, `+` keeps it, otherwise trim_blocks eats one newline.</summary>
    private (bool StripNext, bool LineStarting) AfterTagEnd(bool minus, bool plus)
    {
        if (minus) return (true, EndsWithNewlineAfterStrip(_pos));
        if (!plus && _pos < _src.Length && _src[_pos] == '\n')
        {
            _pos++;
            return (false, true);
        }
        return (false, false);
    }

    /// <summary>Jinja's lexer marks a line start when the whitespace a `-` swallowed ended in a newline.</summary>
    private bool EndsWithNewlineAfterStrip(int pos)
    {
        int k = pos;
        while (k < _src.Length && IsJinjaSpace(_src[k])) k++;
        return k > pos && _src[k - 1] == '\n';
    }

    private void EmitData(string text, int start)
    {
        if (text.Length == 0) return;
        SyncLine(start);
        _tokens.Add(new Token(TokenKind.Data, text, _line, Column(start)));
    }

    private int FindTag(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length) return -1;
            char c = _src[i + 1];
            if (c is '{' or '%' or '#') return i;
            i++;
        }
    }

    /// <summary>{% raw %}...{% endraw %}: the body is data, untouched.</summary>
    private bool TryRaw(int tag, int inner, ref bool stripNext, ref bool lineStarting)
    {
        int i = inner;
        while (i < _src.Length && IsJinjaSpace(_src[i])) i++;
        if (string.CompareOrdinal(_src, i, "raw", 0, 3) != 0) return false;
        i += 3;
        while (i < _src.Length && IsJinjaSpace(_src[i])) i++;
        bool minus = i < _src.Length && _src[i] == '-';
        if (i < _src.Length && _src[i] is '-' or '+') i++;
        if (string.CompareOrdinal(_src, i, "%}", 0, 2) != 0) return false;
        int bodyStart = i + 2;
        int search = bodyStart;
        while (true)
        {
            int open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw Error("missing {% endraw %}", tag);
            int j = open + 2;
            bool minusBefore = j < _src.Length && _src[j] == '-';
            if (j < _src.Length && _src[j] is '-' or '+') j++;
            while (j < _src.Length && IsJinjaSpace(_src[j])) j++;
            if (string.CompareOrdinal(_src, j, "endraw", 0, 6) == 0)
            {
                j += 6;
                while (j < _src.Length && IsJinjaSpace(_src[j])) j++;
                bool minusAfter = j < _src.Length && _src[j] == '-';
                bool plusAfter = j < _src.Length && _src[j] == '+';
                if (j < _src.Length && _src[j] is '-' or '+') j++;
                if (string.CompareOrdinal(_src, j, "%}", 0, 2) == 0)
                {
                    string body = _src[bodyStart..open];
                    if (minus) body = body.TrimStart(IsWhitespaceChars);
                    if (minusBefore) body = body.TrimEnd(IsWhitespaceChars);
                    EmitData(body, bodyStart);
                    _pos = j + 2;
                    (stripNext, lineStarting) = AfterTagEnd(minusAfter, plusAfter);
                    return true;
                }
            }
            search = open + 2;
        }
    }

    private static readonly string[] Operators = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"];

    /// <summary>Expression tokens up to the closing delimiter (at bracket depth 0); returns its modifier ('-', '+' or '\0').</summary>
    private char TokenizeExpression(int start, char closeKind, out int afterEnd)
    {
        int i = start;
        int depth = 0;
        while (true)
        {
            while (i < _src.Length && IsJinjaSpace(_src[i])) i++;
            if (i >= _src.Length) throw Error(closeKind == '%' ? "unexpected end of template: missing '%}'" : "unexpected end of template: missing '}}'", i);
            SyncLine(i);
            if (depth == 0)
            {
                string close = closeKind == '%' ? "%}" : "}}";
                if ((_src[i] == '-' || (_src[i] == '+' && closeKind == '%')) && string.CompareOrdinal(_src, i + 1, close, 0, 2) == 0)
                {
                    EmitEnd(closeKind, i);
                    afterEnd = i + 3;
                    return _src[i];
                }
                if (string.CompareOrdinal(_src, i, close, 0, 2) == 0)
                {
                    EmitEnd(closeKind, i);
                    afterEnd = i + 2;
                    return '\0';
                }
            }
            char c = _src[i];
            int col = Column(i);
            if (char.IsLetter(c) || c == '_')
            {
                int j = i + 1;
                while (j < _src.Length && (char.IsLetterOrDigit(_src[j]) || _src[j] == '_')) j++;
                _tokens.Add(new Token(TokenKind.Name, _src[i..j], _line, col));
                i = j;
            }
            else if (char.IsAsciiDigit(c))
            {
                i = LexNumber(i, col);
            }
            else if (c is '\'' or '"')
            {
                i = LexString(i, col);
            }
            else
            {
                string? op = null;
                foreach (string o in Operators)
                    if (string.CompareOrdinal(_src, i, o, 0, o.Length) == 0) { op = o; break; }
                if (op is null) throw Error($"unexpected char '{c}'", i);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0) throw Error($"unexpected '{op}'", i);
                    depth--;
                }
                _tokens.Add(new Token(TokenKind.Operator, op, _line, col));
                i += op.Length;
            }
        }
    }

    private void EmitEnd(char closeKind, int i) =>
        _tokens.Add(new Token(closeKind == '%' ? TokenKind.BlockEnd : TokenKind.VariableEnd, closeKind == '%' ? "%}" : "}}", _line, Column(i)));

    private int LexNumber(int i, int col)
    {
        int j = i;
        void Digits()
        {
            while (j < _src.Length && (char.IsAsciiDigit(_src[j]) || (_src[j] == '_' && j + 1 < _src.Length && char.IsAsciiDigit(_src[j + 1])))) j++;
        }
        Digits();
        bool isFloat = false;
        if (j + 1 < _src.Length && _src[j] == '.' && char.IsAsciiDigit(_src[j + 1]))
        {
            isFloat = true;
            j++;
            Digits();
        }
        if (j < _src.Length && _src[j] is 'e' or 'E')
        {
            int k = j + 1;
            if (k < _src.Length && _src[k] is '+' or '-') k++;
            if (k < _src.Length && char.IsAsciiDigit(_src[k]))
            {
                isFloat = true;
                j = k;
                Digits();
            }
        }
        string text = _src[i..j].Replace("_", "", StringComparison.Ordinal);
        if (isFloat)
            _tokens.Add(new Token(TokenKind.Float, text, _line, col, double.Parse(text, CultureInfo.InvariantCulture)));
        else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long l))
            _tokens.Add(new Token(TokenKind.Integer, text, _line, col, l));
        else throw Error($"integer literal too large: {text}", i);
        return j;
    }

    /// <summary>A string literal with Python's escapes (Jinja decodes them with "unicode-escape").</summary>
    private int LexString(int i, int col)
    {
        char quote = _src[i];
        var sb = new StringBuilder();
        int j = i + 1;
        while (true)
        {
            if (j >= _src.Length) throw Error("unexpected end of string", i);
            char c = _src[j];
            if (c == quote) break;
            if (c != '\\')
            {
                sb.Append(c);
                j++;
                continue;
            }
            if (j + 1 >= _src.Length) throw Error("unexpected end of string", i);
            char e = _src[j + 1];
            j += 2;
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case 'x': sb.Append(HexEscape(ref j, 2, i)); break;
                case 'u': sb.Append(HexEscape(ref j, 4, i)); break;
                case 'U': sb.Append(HexEscape(ref j, 8, i)); break;
                case >= '0' and <= '7':
                {
                    int value = e - '0';
                    for (int n = 0; n < 2 && j < _src.Length && _src[j] is >= '0' and <= '7'; n++, j++) value = value * 8 + (_src[j] - '0');
                    sb.Append((char)value);
                    break;
                }
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }
        _tokens.Add(new Token(TokenKind.String, _src[i..(j + 1)], _line, col, sb.ToString()));
        return j + 1;
    }

    private string HexEscape(ref int j, int digits, int start)
    {
        if (j + digits > _src.Length || !int.TryParse(_src.AsSpan(j, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp))
            throw Error("truncated \\x, \\u or \\U escape in a string", start);
        j += digits;
        if (cp > 0x10FFFF) throw Error("illegal Unicode character in a string escape", start);
        return char.ConvertFromUtf32(cp is >= 0xD800 and <= 0xDFFF ? 0xFFFD : cp);
    }
}

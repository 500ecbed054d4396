using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Python's str() and repr() of template values: what `{{ value }}` prints.</summary>
internal static class PyFormat
{
    public static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        string s => s,
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200) throw new SandboxLimitError("value nested too deeply to print");
        switch (v)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case PyList l:
                sb.Append(l.IsTuple ? '(' : '[');
                for (int i = 0; i < l.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, l.Items[i], depth + 1);
                }
                if (l.IsTuple && l.Count == 1) sb.Append(',');
                sb.Append(l.IsTuple ? ')' : ']');
                break;
            case PyDict d:
                sb.Append('{');
                for (int i = 0; i < d.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, d.Entries[i].Key, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, d.Entries[i].Value, depth + 1);
                }
                sb.Append('}');
                break;
            case PyRange r:
                sb.Append("range(").Append(r.Start).Append(", ").Append(r.Stop);
                if (r.Step != 1) sb.Append(", ").Append(r.Step);
                sb.Append(')');
                break;
            case Namespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ns.Attributes, depth + 1);
                sb.Append('>');
                break;
            case Undefined:
                sb.Append("Undefined");
                break;
            case Callable c:
                sb.Append("<function ").Append(c.Name).Append('>');
                break;
            case LoopInfo:
                sb.Append("<LoopContext>");
                break;
            default:
                sb.Append(Str(v));
                break;
        }
    }

    /// <summary>Python's repr of a str: single quotes unless the text has ' and no ", escapes for the unprintable.</summary>
    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == quote || c == '\\') sb.Append('\\').Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, s[i + 1]);
                var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
                if (IsPrintable(cat)) sb.Append(c).Append(s[i + 1]);
                else sb.Append(CultureInfo.InvariantCulture, $"\\U{cp:x8}");
                i++;
            }
            else if (c < 0x20 || c == 0x7f) sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else if (c < 0x7f || IsPrintable(CharUnicodeInfo.GetUnicodeCategory(c))) sb.Append(c);
            else if (c <= 0xff) sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
        }
        sb.Append(quote);
    }

    private static bool IsPrintable(UnicodeCategory cat) => cat switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.SpaceSeparator => false,
        _ => true,
    };

    /// <summary>
    /// Python's repr(float): the shortest digits that round-trip, positional when the decimal exponent is in
    /// [-4, 16), else scientific with a signed two-digit exponent (1e+16, 1.5e-07); always a '.0' or an exponent.
    /// </summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest round-trip digits: "R" gives them, in either notation; normalise to digits + exponent.
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = shortest.StartsWith('-');
        if (negative) shortest = shortest[1..];
        int exp10 = 0;
        int e = shortest.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp10 = int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture);
            shortest = shortest[..e];
        }
        int dot = shortest.IndexOf('.');
        string digits = dot >= 0 ? shortest.Remove(dot, 1) : shortest;
        int pointPos = (dot >= 0 ? dot : shortest.Length) + exp10; // value = 0.digits * 10^pointPos after stripping
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..];
        pointPos -= lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        if (pointPos > 16 || pointPos < -3)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int exponent = pointPos - 1;
            sb.Append('e').Append(exponent < 0 ? '-' : '+').Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (pointPos <= 0)
        {
            sb.Append("0.").Append('0', -pointPos).Append(digits);
        }
        else if (pointPos >= digits.Length)
        {
            sb.Append(digits).Append('0', pointPos - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, pointPos).Append('.').Append(digits, pointPos, digits.Length - pointPos);
        }
        return sb.ToString();
    }
}

using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>
/// The globals of a render: Jinja's range (the sandbox's safe_range, at most 100000 items), dict, namespace, and
/// transformers' raise_exception and strftime_now.
/// </summary>
internal static class Builtins
{
    /// <summary>jinja2.sandbox.MAX_RANGE.</summary>
    public const long MaxRange = 100_000;

    public static void AddGlobals(Dictionary<string, object?> globals)
    {
        globals["range"] = new BuiltinFunction("range", Range);
        globals["dict"] = new BuiltinFunction("dict", (_, a) =>
        {
            var d = new PyDict();
            if (a.Positional.Count > 0 && a.Positional[0] is PyDict source)
                foreach (var e in source.Entries) d.Set(e.Key, e.Value);
            foreach (var kv in a.Keyword) d.Set(kv.Key, kv.Value);
            return d;
        });
        globals["namespace"] = new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            if (a.Positional.Count > 0 && a.Positional[0] is PyDict source)
                foreach (var e in source.Entries) ns.Attributes.Set(e.Key, e.Value);
            foreach (var kv in a.Keyword) ns.Attributes.Set(kv.Key, kv.Value);
            return ns;
        });
        globals["raise_exception"] = new BuiltinFunction("raise_exception", (_, a) =>
            throw new TemplateRaisedError(PyFormat.Str(a.Get(0, "message"))));
        globals["strftime_now"] = new BuiltinFunction("strftime_now", (r, a) =>
            Strftime(r.Now.DateTime, PyFormat.Str(a.Get(0, "format"))));
    }

    private static object? Range(Renderer r, CallArgs a)
    {
        long[] n = a.Positional.Select(x => PyOps.ToIndex(x, "range")).ToArray();
        var range = n.Length switch
        {
            1 => new PyRange(0, n[0], 1),
            2 => new PyRange(n[0], n[1], 1),
            3 when n[2] != 0 => new PyRange(n[0], n[1], n[2]),
            3 => throw new JinjaError("range() arg 3 must not be zero"),
            _ => throw new JinjaError($"range expected 1 to 3 arguments, got {n.Length}"),
        };
        if (range.Length > MaxRange)
            throw new SandboxLimitError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        return range;
    }

    private static readonly string[] Months = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames;
    private static readonly string[] Days = CultureInfo.InvariantCulture.DateTimeFormat.DayNames;

    /// <summary>Python's datetime.strftime in the C locale, for a naive (wall-clock) time.</summary>
    public static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }
            char f = format[++i];
            bool noPad = false;
            if (f == '-' && i + 1 < format.Length)
            {
                // glibc's "no padding" flag (%-d), which Linux Python passes through.
                noPad = true;
                f = format[++i];
            }
            string Pad(int v, int width) => noPad ? v.ToString(CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0');
            switch (f)
            {
                case 'd': sb.Append(Pad(t.Day, 2)); break;
                case 'e': sb.Append(t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2, ' ')); break;
                case 'm': sb.Append(Pad(t.Month, 2)); break;
                case 'Y': sb.Append(t.Year.ToString(CultureInfo.InvariantCulture)); break;
                case 'y': sb.Append(Pad(t.Year % 100, 2)); break;
                case 'B': sb.Append(Months[t.Month - 1]); break;
                case 'b': case 'h': sb.Append(Months[t.Month - 1][..3]); break;
                case 'A': sb.Append(Days[(int)t.DayOfWeek]); break;
                case 'a': sb.Append(Days[(int)t.DayOfWeek][..3]); break;
                case 'w': sb.Append((int)t.DayOfWeek); break;
                case 'H': sb.Append(Pad(t.Hour, 2)); break;
                case 'I': sb.Append(Pad(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2)); break;
                case 'p': sb.Append(t.Hour < 12 ? "AM" : "PM"); break;
                case 'M': sb.Append(Pad(t.Minute, 2)); break;
                case 'S': sb.Append(Pad(t.Second, 2)); break;
                case 'f': sb.Append(((t.Ticks % TimeSpan.TicksPerSecond) / 10).ToString("000000", CultureInfo.InvariantCulture)); break;
                case 'j': sb.Append(Pad(t.DayOfYear, 3)); break;
                case 'z': case 'Z': break;
                case 'F': sb.Append(t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)); break;
                case 'T': sb.Append(t.ToString("HH:mm:ss", CultureInfo.InvariantCulture)); break;
                case 'D': sb.Append(t.ToString("MM/dd/yy", CultureInfo.InvariantCulture)); break;
                case 'R': sb.Append(t.ToString("HH:mm", CultureInfo.InvariantCulture)); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case '%': sb.Append('%'); break;
                default: sb.Append('%').Append(f); break;
            }
        }
        return sb.ToString();
    }
}

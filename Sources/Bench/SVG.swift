import Foundation

/// The SVG primitives every Albatross report draws with (bench's charts, a rollout's report): one place for the
/// element syntax, number formatting and XML escaping, so that every report is well-formed the same way and
/// self-contained (no script, font or image from outside; text uses the generic `sans-serif` family).
public enum SVG {
    /// The `<svg>` element around `body` on a white background; `namespace` adds the SVG namespace declaration
    /// (needed in a standalone file, not inside HTML).
    public static func element(width: Double, height: Double, body: String, namespace: Bool) -> String {
        let xmlns = namespace ? " xmlns=\"http://www.w3.org/2000/svg\"" : ""
        return """
            <svg\(xmlns) width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>
            \(body)</svg>

            """
    }

    /// A standalone SVG document of ``element(width:height:body:namespace:)``.
    public static func document(width: Double, height: Double, body: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + element(width: width, height: height, body: body, namespace: true)
    }

    /// A plot's border.
    public static func frame(left: Double, top: Double, right: Double, bottom: Double) -> String {
        "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#999999\"/>\n"
    }

    public static func line(
        _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String, width: Double = 1, dash: String? = nil
    ) -> String {
        let dashed = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        return
            "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\" stroke-width=\"\(f(width))\"\(dashed)/>\n"
    }

    /// A polyline through `points`.
    public static func polyline(
        _ points: [(Double, Double)], color: String, width: Double = 2, dash: String? = nil
    ) -> String {
        let dashed = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        let list = points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        return
            "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(f(width))\"\(dashed) points=\"\(list)\"/>\n"
    }

    /// A filled rectangle, with a tooltip when `title` is given.
    public static func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String, opacity: Double? = nil,
        title: String? = nil
    ) -> String {
        let alpha = opacity.map { " fill-opacity=\"\(f($0))\"" } ?? ""
        let head =
            "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(max(width, 0)))\" height=\"\(f(max(height, 0)))\" fill=\"\(fill)\"\(alpha)"
        guard let title else { return head + "/>\n" }
        return head + "><title>\(escape(title))</title></rect>\n"
    }

    public static func text(
        x: Double, y: Double, _ content: String, size: Double = 12, bold: Bool = false, anchor: String = "start",
        color: String? = nil
    ) -> String {
        let weight = bold ? " font-weight=\"bold\"" : ""
        let fill = color.map { " fill=\"\($0)\"" } ?? ""
        return
            "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\"\(weight)\(fill) text-anchor=\"\(anchor)\">\(escape(content))</text>\n"
    }

    /// A coordinate: one decimal.
    public static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// XML text and attribute escaping.
    public static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}

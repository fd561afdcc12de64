import Domain
import WebServer

/// Every page of the admin site, by URL (see DESIGN.md §8).
enum Routes {
    static func add(to router: inout Router, dependencies: SiteDependencies, renderer: TemplateRenderer, layout: Layout) {
        let status = MasterStatusPage(dependencies: dependencies, renderer: renderer, layout: layout)
        router.get("/") { try status.respond(to: $0) }

        let events = EventViewerPage(dependencies: dependencies, renderer: renderer, layout: layout)
        router.get("/events") { try events.respond(to: $0) }
    }
}

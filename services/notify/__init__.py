"""notify: routes alert transitions to their responsible group (谁主管、谁负责) and delivers them."""
